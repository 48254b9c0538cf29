import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseKey } from "../clients/shared/api-key.js";
import {
  deriveSigningKey,
  newNonce,
  sha256Hex,
  signatureHeaders,
  signFields,
} from "../clients/shared/request-signing.js";
import { type Agent, createAgent } from "./agent.js";
import { type AgentConfig, loadConfig } from "./config.js";

/** TestAgent is an agent serving on a free loopback port with its own data directory. */
export interface TestAgent {
  readonly agent: Agent;
  readonly url: URL;
  readonly config: AgentConfig;
  /** The admin key the agent made at its first start. */
  readonly apiKey: string;
  /** stop shuts the agent down and removes its data directory, unless told to keep it. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** tempDir makes a fresh temporary directory. */
export function tempDir(prefix = "cloudagent-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** adminKey reads the admin key an agent wrote to its data directory at first start. */
export function adminKey(dataDir: string): string {
  return readFileSync(join(dataDir, "admin.key"), "utf8").trim();
}

/**
 * signedHeaders are the headers of a request signed with a key (see docs/security.md): its
 * bearer key, and a signature over the path and the body as sent, with a fresh nonce.
 */
export async function signedHeaders(
  key: string,
  path: string,
  body: string,
): Promise<Record<string, string>> {
  const { keyId, secret } = parseKey(key) ?? { keyId: "", secret: "" };
  const fields = {
    keyId,
    timestamp: Math.floor(Date.now() / 1000),
    nonce: newNonce(),
    path,
    bodySha256: await sha256Hex(new TextEncoder().encode(body)),
  };
  return {
    authorization: `Bearer ${key}`,
    [signatureHeaders.keyId]: keyId,
    [signatureHeaders.timestamp]: String(fields.timestamp),
    [signatureHeaders.nonce]: fields.nonce,
    [signatureHeaders.signature]: await signFields(await deriveSigningKey(secret), fields),
  };
}

/** startTestAgent starts an agent on 127.0.0.1 and port 0, with config overrides. */
export async function startTestAgent(overrides: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const dataDir = overrides.dataDir ?? tempDir();
  const config = {
    ...loadConfig({ env: {} }),
    port: 0,
    dataDir,
    shutdownGraceMs: 1_000,
    ...overrides,
  };
  const agent = await createAgent({
    config,
    onError: (error) => console.error(error),
    log: () => {},
  });
  const url = await agent.start();
  return {
    agent,
    url,
    config,
    apiKey: adminKey(dataDir),
    async stop(options = {}) {
      await agent.stop();
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** AgentProcess is `cloudagent serve` running as a child process. */
export interface AgentProcess {
  readonly url: URL;
  /** Its name in the leases of the tasks it runs. */
  readonly instanceId: string;
  readonly child: ChildProcess;
  /** The admin key in its data directory. */
  readonly apiKey: string;
  /** Resolves with the exit code, or the signal's name if a signal ended it. */
  readonly exited: Promise<number | string>;
  /** Everything the process wrote to stderr so far. */
  log(): string;
}

const cli = join(import.meta.dirname, "..", "bin", "cloudagent.js");

/**
 * spawnAgent starts `cloudagent serve` on a free loopback port and waits until it listens;
 * with openFileLimit, under that limit on open files (the shell's `ulimit -n`).
 */
export function spawnAgent(
  dataDir: string,
  env: Record<string, string> = {},
  openFileLimit?: number,
): Promise<AgentProcess> {
  const [command, args] =
    openFileLimit === undefined
      ? [process.execPath, [cli, "serve"]]
      : [
          "sh",
          ["-c", `ulimit -n ${openFileLimit} && exec "$0" "$@"`, process.execPath, cli, "serve"],
        ];
  const child = spawn(command, args, {
    env: {
      ...process.env,
      CLOUDAGENT_PORT: "0",
      CLOUDAGENT_HOST: "127.0.0.1",
      CLOUDAGENT_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  let listening = false;
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
      const match = /instance (\S+) listening on (\S+)/.exec(stderr);
      if (!listening && match?.[1] && match[2]) {
        listening = true;
        resolve({
          instanceId: match[1],
          url: new URL(match[2]),
          child,
          exited,
          apiKey: adminKey(dataDir),
          log: () => stderr,
        });
      }
    });
    exited.then((code) =>
      reject(new Error(`cloudagent serve exited (${code}) before listening:\n${stderr}`)),
    );
  });
}
