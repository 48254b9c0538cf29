// Drives a server with h2load (nghttp2-client) and reads what it reports.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RequestShape } from "./workloads.js";

const run = promisify(execFile);

/** ensureH2load finds h2load, installing Debian's nghttp2-client (as root) when missing. */
export function ensureH2load(): void {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
  } catch {
    execFileSync(
      "bash",
      [join(import.meta.dirname, "..", "..", "scripts", "install-test-deps.sh")],
      {
        stdio: "inherit",
      },
    );
  }
}

/** LoadOptions shape one h2load run. */
export interface LoadOptions {
  readonly port: number;
  readonly request: RequestShape;
  readonly headers: Record<string, string>;
  /** Connections, and streams in flight on each. */
  readonly connections: number;
  readonly streams: number;
  /** How long to measure, after a warm-up second; or, for a smoke run, how many requests. */
  readonly length: { readonly seconds: number } | { readonly requests: number };
  /** HTTP/1.1 instead of HTTP/2 (one request at a time per connection). */
  readonly http1?: boolean;
  /** Keep per-request durations (for latency percentiles). */
  readonly perRequest?: boolean;
  /** Hold each connection to this many requests per second (h2load --rps). */
  readonly ratePerConnection?: number;
}

/** LoadResult is what one run did. */
export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Responses with a 2xx status. */
  readonly ok: number;
  /** Bytes of response bodies (DATA), in all. */
  readonly dataBytes: number;
  /** Per-request durations in microseconds, when asked for. */
  readonly durationsUs: number[];
}

const number = (pattern: RegExp, text: string) => Number(pattern.exec(text)?.[1] ?? Number.NaN);

/** load runs h2load once against a server. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "cloudagent-h2load-"));
  try {
    const body = join(dir, "body");
    writeFileSync(body, options.request.body);
    const log = join(dir, "log");
    const headers = { ...options.request.headers, ...options.headers };
    const args = [
      `http://127.0.0.1:${options.port}${options.request.path}`,
      "-c",
      String(options.connections),
      "-m",
      String(options.streams),
      ...("seconds" in options.length
        ? ["-D", String(options.length.seconds), "--warm-up-time=1"]
        : ["-n", String(options.length.requests)]),
      "-d",
      body,
      ...Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
      ...(options.http1 ? ["--h1"] : []),
      ...(options.perRequest ? ["--log-file", log] : []),
      ...(options.ratePerConnection ? [`--rps=${options.ratePerConnection}`] : []),
    ];
    const { stdout } = await run("h2load", args, { maxBuffer: 16 * 1024 * 1024 });
    const durationsUs = options.perRequest
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((line) => Number(line.split("\t")[2]))
      : [];
    return {
      requestsPerSecond: number(/finished in [\d.]+m?s, ([\d.]+) req\/s/, stdout),
      succeeded: number(/(\d+) succeeded/, stdout),
      failed: number(/(\d+) failed/, stdout) + number(/(\d+) errored/, stdout),
      ok: number(/status codes: (\d+) 2xx/, stdout),
      dataBytes: number(/\((\d+)\) data/, stdout),
      durationsUs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
