import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * ThrowawayPostgres is a PostgreSQL server of its own, in a temporary directory on a free
 * loopback port, for tests and benchmarks. Nothing outside that directory is touched.
 */
export interface ThrowawayPostgres {
  /** The URL of its `postgres` database, as the superuser. */
  readonly url: string;
  /** The directory holding its data and socket. */
  readonly dir: string;
  /** createDatabase makes a fresh, empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** stop shuts the server down fast (open sessions are ended), keeping its data. */
  stop(): void;
  /** start starts it again on the same port, waiting until it accepts connections. */
  start(): void;
  /** pid is the postmaster's process id while it runs. */
  pid(): number;
  /** destroy stops the server and removes its directory. */
  destroy(): void;
}

/** ThrowawayPostgresOptions tune the server. */
export interface ThrowawayPostgresOptions {
  /**
   * Whether commits reach the disk (fsync) as in production. Tests leave it off for speed;
   * benchmarks compare engines at equal durability and turn it on.
   */
  readonly durable?: boolean;
}

/** postgresBinDir finds PostgreSQL's programs: on the PATH, or in Debian's versioned directory. */
function postgresBinDir(): string {
  const onPath = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" }).stdout.trim();
  if (onPath) return join(onPath, "..");
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = join(root, version, "bin");
    if (existsSync(join(bin, "pg_ctl"))) return bin;
  }
  throw new Error(
    "PostgreSQL is not installed (no pg_ctl on the PATH or in /usr/lib/postgresql); run scripts/install-test-deps.sh",
  );
}

let databases = 0;

/** createDatabase makes a fresh, empty database on the server at serverUrl and returns its URL. */
export async function createDatabase(serverUrl: string): Promise<string> {
  const name = `test_${process.pid}_${databases++}_${Date.now().toString(36)}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** freePort asks the system for a free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * startThrowawayPostgres runs initdb in a new temporary directory and starts the server on a
 * free loopback port. PostgreSQL refuses to run as root, so as root the server and its files
 * belong to the `postgres` user.
 */
export async function startThrowawayPostgres(
  options: ThrowawayPostgresOptions = {},
): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "cloudagent-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    chownSync(dir, uid, gid);
  }
  const run = (program: string, args: string[]) => {
    const command = asRoot ? "runuser" : join(bin, program);
    const argv = asRoot ? ["-u", "postgres", "--", join(bin, program), ...args] : args;
    const result = spawnSync(command, argv, { encoding: "utf8", cwd: dir });
    if (result.status !== 0) {
      throw new Error(`${program} failed (${result.status}): ${result.stderr || result.stdout}`);
    }
  };
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-k ${dir}`,
    "-c max_connections=200",
    `-c fsync=${options.durable ? "on" : "off"}`,
    `-c synchronous_commit=${options.durable ? "on" : "off"}`,
    `-c full_page_writes=${options.durable ? "on" : "off"}`,
  ].join(" ");
  const log = join(dir, "server.log");
  const start = () => run("pg_ctl", ["-D", data, "-l", log, "-o", settings, "-w", "start"]);
  const stop = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
  start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    dir,
    createDatabase: () => createDatabase(url),
    start,
    stop,
    pid() {
      return Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    },
    destroy() {
      try {
        if (existsSync(join(data, "postmaster.pid"))) stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
