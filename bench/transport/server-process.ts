// Starts each server under test as its own process, and reads its memory from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { adminKey, tempDir } from "../../server/test-support.js";

/** ServerUnderTest is a running server: where it listens and how to stop it. */
export interface ServerUnderTest {
  readonly name: string;
  readonly port: number;
  /** Where it serves HTTP/1.1, if it does. */
  readonly http1Port: number | undefined;
  readonly pid: number;
  /** Headers every request to it carries (our server's API key). */
  readonly headers: Record<string, string>;
  /** Where our server keeps its data (its SQLite file); undefined for the peers. */
  readonly dataDir?: string;
  /** collectGarbage has the server run a full collection; it resolves to the live heap after. */
  collectGarbage(): Promise<number>;
  stop(): Promise<void>;
}

const root = join(import.meta.dirname, "..", "..");
/** Every server runs with a collection on SIGUSR2 (see gc-on-signal.mjs and collectGarbage). */
const gcOnSignal = ["--expose-gc", "--import", join(import.meta.dirname, "gc-on-signal.mjs")];

function started(name: string, child: ChildProcess, port: RegExp, cleanup = () => {}) {
  let output = "";
  const collectGarbage = () =>
    new Promise<number>((resolve) => {
      const collected = (chunk: Buffer) => {
        const heap = /collected (\d+)/.exec(chunk.toString());
        if (heap === null) return;
        child.stderr?.off("data", collected);
        resolve(Number(heap[1]));
      };
      child.stderr?.on("data", collected);
      child.kill("SIGUSR2");
    });
  return new Promise<Pick<ServerUnderTest, "port" | "http1Port" | "collectGarbage" | "stop">>(
    (resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        const match = port.exec(output);
        if (match?.[1]) {
          resolve({
            port: Number(match[1]),
            http1Port: match[2] ? Number(match[2]) : undefined,
            collectGarbage,
            stop: async () => {
              const exited = new Promise((done) => child.once("exit", done));
              child.kill("SIGTERM");
              await exited;
              cleanup();
            },
          });
        }
      };
      child.stdout?.on("data", read);
      child.stderr?.on("data", read);
      child.once("exit", (code) => reject(new Error(`${name} exited (${code}):\n${output}`)));
    },
  );
}

/** startPeer starts one of the peers in bench/transport/peers. */
export async function startPeer(
  name: string,
  env: Record<string, string> = {},
): Promise<ServerUnderTest> {
  const child = spawn(
    process.execPath,
    [...gcOnSignal, "--import", "tsx", join(import.meta.dirname, "peers", `${name}.ts`)],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const { port, http1Port, collectGarbage, stop } = await started(
    name,
    child,
    /\{"port":(\d+)(?:,"http1Port":(\d+))?\}/,
  );
  return { name, port, http1Port, pid: child.pid ?? 0, headers: {}, collectGarbage, stop };
}

/** startAgent starts our server (`cloudagent serve`) with its data in a temporary folder. */
export async function startAgent(
  name: string,
  env: Record<string, string> = {},
): Promise<ServerUnderTest> {
  const dataDir = tempDir("cloudagent-bench-");
  const child = spawn(
    process.execPath,
    [...gcOnSignal, join(root, "bin", "cloudagent.js"), "serve"],
    {
      cwd: root,
      env: {
        ...process.env,
        CLOUDAGENT_PORT: "0",
        CLOUDAGENT_HOST: "127.0.0.1",
        CLOUDAGENT_DATA_DIR: dataDir,
        // The benchmark is the only caller: no key's rate should hold it back.
        CLOUDAGENT_RATE_LIMIT_PER_SECOND: "1000000",
        CLOUDAGENT_RATE_LIMIT_BURST: "1000000",
        CLOUDAGENT_MAX_TASKS_PER_KEY: "1000000",
        CLOUDAGENT_MAX_QUEUED_TASKS: "1000000",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const { port, collectGarbage, stop } = await started(
    "cloudagent",
    child,
    /listening on http:\/\/[^:]+:(\d+)\//,
    () => rmSync(dataDir, { recursive: true, force: true }),
  );
  return {
    name,
    port,
    // One port serves both.
    http1Port: port,
    pid: child.pid ?? 0,
    dataDir,
    headers: { authorization: `Bearer ${adminKey(dataDir)}` },
    collectGarbage,
    stop,
  };
}

/** rssBytesOf is a process's resident memory now. */
export function rssBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}
