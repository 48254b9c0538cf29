import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import type { ForwardedHeader } from "./security/forwarded.js";

/** AgentConfig is everything an operator can set; see docs/configuration.md. */
export interface AgentConfig {
  /** The address to listen on. */
  readonly host: string;
  /** The port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Where the SQLite database lives, and the admin key made at first start. */
  readonly dataDir: string;
  /**
   * A PostgreSQL URL (postgres://user:password@host:port/database): store everything there,
   * shared by every instance given the same URL, instead of in SQLite under dataDir.
   */
  readonly databaseUrl: string;
  /** The most connections this instance opens to PostgreSQL. */
  readonly databasePoolSize: number;
  /**
   * How long a running task's lease lasts; the instance running it renews it three times as
   * often, and another instance takes the task over once it has expired.
   */
  readonly leaseMs: number;
  /** A PEM certificate file: with tlsKeyFile, serve TLS (HTTP/2 and HTTP/1.1 by ALPN). */
  readonly tlsCertFile: string;
  /** The PEM private key of tlsCertFile. */
  readonly tlsKeyFile: string;
  /** The largest request or response message, in bytes. */
  readonly maxMessageBytes: number;
  /** A watch stream with no event for this long ends with DeadlineExceeded (callers resume). */
  readonly streamIdleTimeoutMs: number;
  /** The most tasks running at once, pure ones run as they are submitted aside. */
  readonly maxConcurrentTasks: number;
  /**
   * The most tasks of one API key running at once (the slots are shared in turn among keys
   * with queued tasks); 0 for a quarter of maxConcurrentTasks (at least 1).
   */
  readonly maxRunningTasksPerKey: number;
  /** Worker threads CPU-heavy tasks run on; 0 runs them on the event loop. */
  readonly workerThreads: number;
  /** The most worker threads one API key's tasks may hold at once; 0 for half of them (at least 1). */
  readonly maxWorkerThreadsPerKey: number;
  /**
   * Internal addresses (CIDRs or addresses, comma-separated) tasks may send requests to,
   * which are otherwise refused: loopback, private, link-local and metadata ones.
   */
  readonly fetchAllow: string;
  /**
   * A directory of plugins to load at start, besides the bundled ones (see docs/plugins.md);
   * empty for none.
   */
  readonly pluginDir: string;
  /** The timeout a task gets when its submit names none, in milliseconds. */
  readonly defaultTimeoutMs: number;
  /** The longest timeout a submit may ask for, in milliseconds. */
  readonly maxTimeoutMs: number;
  /** A task interrupted by this many crashes is failed instead of run again. */
  readonly maxAttempts: number;
  /** The most unfinished (queued or running) tasks one API key may have. */
  readonly maxTasksPerKey: number;
  /** The most tasks the queue holds; submits beyond it are refused. */
  readonly maxQueuedTasks: number;
  /** The most requests in one SubmitBatch. */
  readonly maxBatchSize: number;
  /** How long running tasks may take to finish at shutdown before they are requeued. */
  readonly shutdownGraceMs: number;
  /** How often the WebSocket gateway pings each session; one that misses a pong is dropped. */
  readonly wsHeartbeatMs: number;
  /** A WebSocket session with no client frame for this long is closed. */
  readonly wsIdleTimeoutMs: number;
  /** The largest WebSocket frame accepted; larger ones get an error frame. */
  readonly wsMaxFrameBytes: number;
  /** The most channel subscriptions one WebSocket session may hold. */
  readonly wsMaxSubscriptions: number;
  /** The most WebSocket sessions one API key may hold open at once. */
  readonly wsMaxSessionsPerKey: number;
  /** The most server streams (Run, WatchTask, WatchEvents, reflection) one API key may hold open. */
  readonly maxStreamsPerKey: number;
  /** A WebSocket session with more unsent data than this is disconnected as a slow consumer. */
  readonly wsMaxBufferedBytes: number;
  /** How often subscribers of the metrics channel get a snapshot. */
  readonly metricsIntervalMs: number;
  /** How long a WebSocket session opened without a key has to send its auth frame. */
  readonly wsAuthTimeoutMs: number;
  /** Paths anyone may call without a key, comma-separated; a trailing "*" matches a prefix. */
  readonly openPaths: string;
  /** Origins whose browser pages may call the RPCs (CORS), comma-separated; "*" for any. */
  readonly corsOrigins: string;
  /** How many days audit events are kept. */
  readonly auditRetentionDays: number;
  /** CIDRs allowed in, comma-separated; empty allows every address not denied. */
  readonly ipAllow: string;
  /** CIDRs kept out, comma-separated; deny wins over allow. */
  readonly ipDeny: string;
  /** CIDRs of proxies whose forwarding and country headers are believed, comma-separated. */
  readonly trustedProxies: string;
  /**
   * The header trusted proxies name the client in: "x-forwarded-for" or "forwarded"; the
   * other is ignored.
   */
  readonly forwardedHeader: ForwardedHeader;
  /** The header a trusted proxy puts the client's country in. */
  readonly countryHeader: string;
  /** A MaxMind-format (.mmdb) country database to look clients' countries up in; none when empty. */
  readonly countryDatabase: string;
  /** ISO country codes allowed in, comma-separated; empty allows every country not blocked. */
  readonly allowCountries: string;
  /** ISO country codes kept out, comma-separated. */
  readonly blockCountries: string;
  /** With country rules set, whether requests of unknown country get in: "allow" or "deny". */
  readonly unknownCountry: string;
  /** Requests per second a key may make, over time, unless the key has its own limit. */
  readonly rateLimitPerSecond: number;
  /** Requests a key may make at once after a quiet spell, unless it has its own limit. */
  readonly rateLimitBurst: number;
  /** Further per-key limits on calls needing a scope: "tasks:submit=50/100,…" (per second/burst). */
  readonly scopeRateLimits: string;
  /**
   * How long a connection has to send its first bytes, an HTTP/2 connection to open its first
   * stream, and an HTTP/1.1 request its headers.
   */
  readonly headerTimeoutMs: number;
  /** The most HTTP/2 streams one connection may have open. */
  readonly maxConcurrentStreams: number;
  /** How long an HTTP/2 connection may stay open with no stream open (it is then asked to go). */
  readonly idleTimeoutMs: number;
  /** The longest an HTTP/1.1 request's body may take to arrive. */
  readonly requestTimeoutMs: number;
  /**
   * The slowest an HTTP/1.1 request's body may arrive: past its first headerTimeoutMs, one
   * more second for every this many bytes.
   */
  readonly minBodyBytesPerSecond: number;
  /** The most connections open at once; 0 for four fifths of the process's open-file limit. */
  readonly maxConnections: number;
  /** The most connections open at once from one address (trusted proxies have no cap). */
  readonly maxConnectionsPerAddress: number;
  /** "on" records every request in the audit trail; "off" (for benchmarks) records none. */
  readonly audit: string;
}

type Setting =
  | { readonly kind: "string"; readonly fallback: string }
  | {
      readonly kind: "integer";
      readonly fallback: number;
      readonly min: number;
      readonly max: number;
    };

const settings: { readonly [K in keyof AgentConfig]: Setting } = {
  host: { kind: "string", fallback: "127.0.0.1" },
  port: { kind: "integer", fallback: 8080, min: 0, max: 65_535 },
  dataDir: { kind: "string", fallback: "./data" },
  databaseUrl: { kind: "string", fallback: "" },
  databasePoolSize: { kind: "integer", fallback: 10, min: 1, max: 1_000 },
  leaseMs: { kind: "integer", fallback: 30_000, min: 300, max: 3_600_000 },
  tlsCertFile: { kind: "string", fallback: "" },
  tlsKeyFile: { kind: "string", fallback: "" },
  maxMessageBytes: {
    kind: "integer",
    fallback: 4 * 1024 * 1024,
    min: 1024,
    max: 256 * 1024 * 1024,
  },
  maxConcurrentTasks: { kind: "integer", fallback: 16, min: 1, max: 10_000 },
  maxRunningTasksPerKey: { kind: "integer", fallback: 0, min: 0, max: 10_000 },
  workerThreads: { kind: "integer", fallback: availableParallelism(), min: 0, max: 256 },
  maxWorkerThreadsPerKey: { kind: "integer", fallback: 0, min: 0, max: 256 },
  fetchAllow: { kind: "string", fallback: "" },
  pluginDir: { kind: "string", fallback: "" },
  streamIdleTimeoutMs: { kind: "integer", fallback: 3_600_000, min: 10, max: 86_400_000 },
  defaultTimeoutMs: { kind: "integer", fallback: 600_000, min: 1, max: 86_400_000 },
  maxTimeoutMs: { kind: "integer", fallback: 86_400_000, min: 1, max: 604_800_000 },
  maxAttempts: { kind: "integer", fallback: 3, min: 1, max: 100 },
  maxTasksPerKey: { kind: "integer", fallback: 10_000, min: 1, max: 100_000_000 },
  maxQueuedTasks: { kind: "integer", fallback: 1_000_000, min: 1, max: 1_000_000_000 },
  maxBatchSize: { kind: "integer", fallback: 1_000, min: 1, max: 100_000 },
  shutdownGraceMs: { kind: "integer", fallback: 10_000, min: 0, max: 3_600_000 },
  wsHeartbeatMs: { kind: "integer", fallback: 30_000, min: 10, max: 3_600_000 },
  wsIdleTimeoutMs: { kind: "integer", fallback: 300_000, min: 10, max: 86_400_000 },
  wsMaxFrameBytes: { kind: "integer", fallback: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 },
  wsMaxSubscriptions: { kind: "integer", fallback: 100, min: 1, max: 100_000 },
  wsMaxSessionsPerKey: { kind: "integer", fallback: 50, min: 1, max: 1_000_000 },
  maxStreamsPerKey: { kind: "integer", fallback: 100, min: 1, max: 1_000_000 },
  wsMaxBufferedBytes: {
    kind: "integer",
    fallback: 4 * 1024 * 1024,
    min: 1024,
    max: 1024 * 1024 * 1024,
  },
  metricsIntervalMs: { kind: "integer", fallback: 5_000, min: 10, max: 3_600_000 },
  wsAuthTimeoutMs: { kind: "integer", fallback: 5_000, min: 10, max: 600_000 },
  openPaths: { kind: "string", fallback: "" },
  corsOrigins: { kind: "string", fallback: "" },
  auditRetentionDays: { kind: "integer", fallback: 30, min: 1, max: 3_650 },
  ipAllow: { kind: "string", fallback: "" },
  ipDeny: { kind: "string", fallback: "" },
  trustedProxies: { kind: "string", fallback: "" },
  forwardedHeader: { kind: "string", fallback: "x-forwarded-for" },
  countryHeader: { kind: "string", fallback: "cf-ipcountry" },
  countryDatabase: { kind: "string", fallback: "" },
  allowCountries: { kind: "string", fallback: "" },
  blockCountries: { kind: "string", fallback: "" },
  unknownCountry: { kind: "string", fallback: "allow" },
  rateLimitPerSecond: { kind: "integer", fallback: 100, min: 1, max: 1_000_000 },
  rateLimitBurst: { kind: "integer", fallback: 200, min: 1, max: 1_000_000 },
  scopeRateLimits: { kind: "string", fallback: "" },
  headerTimeoutMs: { kind: "integer", fallback: 10_000, min: 100, max: 600_000 },
  maxConcurrentStreams: { kind: "integer", fallback: 1_000, min: 1, max: 100_000 },
  idleTimeoutMs: { kind: "integer", fallback: 300_000, min: 100, max: 86_400_000 },
  requestTimeoutMs: { kind: "integer", fallback: 300_000, min: 100, max: 86_400_000 },
  minBodyBytesPerSecond: { kind: "integer", fallback: 1_000, min: 1, max: 1_000_000_000 },
  maxConnections: { kind: "integer", fallback: 0, min: 0, max: 10_000_000 },
  maxConnectionsPerAddress: { kind: "integer", fallback: 256, min: 1, max: 10_000_000 },
  audit: { kind: "string", fallback: "on" },
};

/**
 * shareOf is one API key's share of something there are `total` of: the configured number,
 * or when 0 (the default) the `total / parts`, at least 1.
 */
export function shareOf(configured: number, total: number, parts: number): number {
  return configured > 0 ? configured : Math.max(1, Math.floor(total / parts));
}

/** envName is the environment variable of a setting: maxMessageBytes is CLOUDAGENT_MAX_MESSAGE_BYTES. */
export function envName(key: string): string {
  return `CLOUDAGENT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** ConfigError says which setting is wrong and why. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function parse(source: string, setting: Setting, raw: unknown): string | number {
  if (setting.kind === "string") {
    if (typeof raw !== "string") throw new ConfigError(`${source}: must be a string`);
    return raw;
  }
  const value = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < setting.min ||
    value > setting.max
  ) {
    throw new ConfigError(
      `${source}: must be an integer from ${setting.min} to ${setting.max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function readFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`config file ${path}: ${cause instanceof Error ? cause.message : cause}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    if (!Object.hasOwn(settings, key)) {
      throw new ConfigError(`config file ${path}: unknown setting ${JSON.stringify(key)}`);
    }
  }
  return parsed as Record<string, unknown>;
}

/** LoadConfigOptions says where settings come from. */
export interface LoadConfigOptions {
  /** The environment; CLOUDAGENT_* variables override the file. */
  readonly env: NodeJS.ProcessEnv;
  /** A JSON config file; CLOUDAGENT_CONFIG names one when this is not set. */
  readonly file?: string | undefined;
}

/**
 * loadConfig merges the defaults, a JSON config file and CLOUDAGENT_* environment variables,
 * later ones winning. A bad value is a ConfigError naming the setting.
 */
export function loadConfig(options: LoadConfigOptions): AgentConfig {
  const file = options.file ?? options.env.CLOUDAGENT_CONFIG;
  const fromFile = file ? readFile(file) : {};
  const config: Record<string, string | number> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const name = envName(key);
    const env = options.env[name];
    if (env !== undefined && env !== "") config[key] = parse(name, setting, env);
    else if (fromFile[key] !== undefined)
      config[key] = parse(`${file}: ${key}`, setting, fromFile[key]);
    else config[key] = setting.fallback;
  }
  const result = config as unknown as AgentConfig;
  if ((result.tlsCertFile === "") !== (result.tlsKeyFile === "")) {
    throw new ConfigError("tlsCertFile and tlsKeyFile must be set together");
  }
  if (result.audit !== "on" && result.audit !== "off") {
    throw new ConfigError(`audit must be "on" or "off", got ${JSON.stringify(result.audit)}`);
  }
  if (result.forwardedHeader !== "x-forwarded-for" && result.forwardedHeader !== "forwarded") {
    throw new ConfigError(
      `forwardedHeader must be "x-forwarded-for" or "forwarded", got ${JSON.stringify(result.forwardedHeader)}`,
    );
  }
  if (result.unknownCountry !== "allow" && result.unknownCountry !== "deny") {
    throw new ConfigError(
      `unknownCountry must be "allow" or "deny", got ${JSON.stringify(result.unknownCountry)}`,
    );
  }
  if (result.databaseUrl !== "" && !/^postgres(ql)?:\/\//.test(result.databaseUrl)) {
    throw new ConfigError("databaseUrl must be a postgres:// or postgresql:// URL");
  }
  if (result.defaultTimeoutMs > result.maxTimeoutMs) {
    throw new ConfigError("defaultTimeoutMs must not exceed maxTimeoutMs");
  }
  return { ...result, dataDir: resolve(result.dataDir) };
}
