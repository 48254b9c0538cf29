import { rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { afterAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { parseKey } from "../../clients/shared/api-key.js";
import {
  deriveSigningKey,
  newNonce,
  sha256Hex,
  signatureHeaders,
  signFields,
} from "../../clients/shared/request-signing.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { AgentConfig } from "../config.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import { startTestAgent, type TestAgent, tempDir } from "../test-support.js";
import { generateKey } from "./api-keys.js";
import { createDoor } from "./door.js";
import { createKeyManager } from "./key-manager.js";
import { createNetworkRules } from "./network-rules.js";
import { createRateLimiter } from "./rate-limiter.js";

// A real GeoLite2 country database, from an npm package pinned by the lockfile.
const geoDatabase = join(
  import.meta.dirname,
  "..",
  "..",
  "node_modules",
  "@ip-location-db",
  "geolite2-country-mmdb",
  "geolite2-country.mmdb",
);

const submitPath = "/noizylab.agent.v1.TaskService/Submit";
const goodBody = '{"spec":{"echo":{"text":"hi"}}}';

/** post sends a Connect JSON call with the given headers and body, as any HTTP client could. */
async function post(
  server: TestAgent,
  headers: Record<string, string>,
  body = goodBody,
  path = submitPath,
) {
  const response = await fetch(new URL(path, server.url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const json = (await response.json()) as { code?: string; message?: string };
  return {
    status: response.status,
    headers: response.headers,
    code: json.code ? codeFromString(json.code) : undefined,
    message: json.message ?? "",
  };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** auditedCodes waits for the audit events of Submit calls made since a time, and returns their codes and peers. */
async function audited(server: TestAgent, since: number, count: number) {
  let events: Awaited<ReturnType<TestAgent["agent"]["store"]["audit"]["list"]>>["events"] = [];
  await expect
    .poll(async () => {
      const page = await server.agent.store.audit.list({ since, refusedOnly: false, limit: 100 });
      events = page.events.filter((e) => e.procedure === submitPath).reverse();
      return events.length;
    })
    .toBeGreaterThanOrEqual(count);
  return events;
}

interface Row {
  readonly name: string;
  readonly config?: Partial<AgentConfig>;
  /** Makes the request's headers and body; may use the server (to make keys). */
  readonly request: (
    server: TestAgent,
  ) => Promise<{ headers: Record<string, string>; body?: string; path?: string; gzip?: boolean }>;
  /** The exact code, or "ok" where the attempt must not work (a spoofed header is ignored). */
  readonly code: Code | "ok";
  readonly message: string;
  /** Refusals by the door leave an audit row with the reason; errors of the RPC itself do not. */
  readonly refusal: boolean;
  /** The peer the audit row names, when not the test's own 127.0.0.1. */
  readonly peerIp?: string;
}

async function keyWith(server: TestAgent, scopes: Scope[], requireSignature = false) {
  const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
  const created = await admin.keys.createKey({ name: "test", scopes, requireSignature });
  return created.key;
}

/** signed makes the headers of a request signed with a key, with one thing changed if asked. */
async function signed(
  key: string,
  body: string,
  change: { timestampOffset?: number; nonce?: string; signature?: (good: string) => string } = {},
) {
  const { keyId, secret } = parseKey(key) ?? { keyId: "", secret: "" };
  const fields = {
    keyId,
    timestamp: Math.floor(Date.now() / 1000) + (change.timestampOffset ?? 0),
    nonce: change.nonce ?? newNonce(),
    path: submitPath,
    bodySha256: await sha256Hex(new TextEncoder().encode(body)),
  };
  const signature = await signFields(await deriveSigningKey(secret), fields);
  return {
    ...bearer(key),
    [signatureHeaders.keyId]: keyId,
    [signatureHeaders.timestamp]: String(fields.timestamp),
    [signatureHeaders.nonce]: fields.nonce,
    [signatureHeaders.signature]: change.signature ? change.signature(signature) : signature,
  };
}

const signingKey = (server: TestAgent) => keyWith(server, [Scope.TASKS_SUBMIT], true);
const flipLast = (hex: string) => hex.slice(0, -1) + (hex.endsWith("0") ? "1" : "0");

const signatureRows: Row[] = [
  { name: "a signature one byte off", change: { signature: flipLast }, message: "does not match" },
  {
    name: "a signature of the wrong length",
    change: { signature: (s: string) => s.slice(2) },
    message: "64 lowercase hex",
  },
  {
    name: "a signature that is not hex",
    change: { signature: (s: string) => "z".repeat(s.length) },
    message: "64 lowercase hex",
  },
  { name: "a timestamp 301 s old", change: { timestampOffset: -301 }, message: "more than 300 s" },
  { name: "a timestamp 301 s ahead", change: { timestampOffset: 301 }, message: "more than 300 s" },
].map(({ name, change, message }) => ({
  name,
  request: async (server: TestAgent) => ({
    headers: await signed(await signingKey(server), goodBody, change),
  }),
  code: Code.Unauthenticated,
  message,
  refusal: true,
}));

const rows: Row[] = [
  {
    name: "no key",
    request: async () => ({ headers: {} }),
    code: Code.Unauthenticated,
    message: "missing API key",
    refusal: true,
  },
  {
    name: "an unknown key",
    request: async () => ({ headers: bearer(generateKey().key) }),
    code: Code.Unauthenticated,
    message: "unknown API key",
    refusal: true,
  },
  {
    name: "a revoked key",
    request: async (server) => {
      const key = await keyWith(server, [Scope.TASKS_SUBMIT]);
      const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
      await admin.keys.revokeKey({ keyId: key.split("_")[1] ?? "" });
      return { headers: bearer(key) };
    },
    code: Code.Unauthenticated,
    message: "was revoked",
    refusal: true,
  },
  {
    name: "an expired key",
    request: async (server) => {
      // Written straight to the store: the API refuses to make a key that is already expired.
      const made = generateKey();
      await server.agent.store.keys.insert({
        keyId: made.keyId,
        name: "expired",
        scopes: [Scope.ADMIN],
        secretHash: made.secretHash,
        createdAt: Date.now() - 2_000,
        expiresAt: Date.now() - 1_000,
        revokedAt: null,
        rateLimit: null,
        signingKey: new Uint8Array(32),
        requireSignature: false,
      });
      return { headers: bearer(made.key) };
    },
    code: Code.Unauthenticated,
    message: "expired at",
    refusal: true,
  },
  {
    name: "the wrong scope",
    request: async (server) => ({ headers: bearer(await keyWith(server, [Scope.TASKS_READ])) }),
    code: Code.PermissionDenied,
    message: "lacks the tasks:submit scope",
    refusal: true,
  },
  {
    // Only 127.0.0.1 may come in: were the header believed, 10.1.2.3 would be refused.
    name: "a spoofed X-Forwarded-For from an untrusted peer",
    config: { ipAllow: "127.0.0.1" },
    request: async (server) => ({
      headers: { ...bearer(server.apiKey), "x-forwarded-for": "10.1.2.3" },
    }),
    code: "ok",
    message: "",
    refusal: false,
  },
  {
    // A proxy appends the address it took the request from: the client wrote the left one.
    name: "a client-written X-Forwarded-For entry left of the proxy's",
    config: { trustedProxies: "127.0.0.1", ipDeny: "203.0.113.9" },
    request: async (server) => ({
      headers: { ...bearer(server.apiKey), "x-forwarded-for": "1.2.3.4, 203.0.113.9" },
    }),
    code: Code.PermissionDenied,
    message: "address 203.0.113.9 is denied",
    refusal: true,
    peerIp: "203.0.113.9",
  },
  {
    name: "a Forwarded header beside the X-Forwarded-For the proxies write",
    config: { trustedProxies: "127.0.0.1", ipDeny: "203.0.113.9" },
    request: async (server) => ({
      headers: {
        ...bearer(server.apiKey),
        forwarded: "for=1.2.3.4",
        "x-forwarded-for": "203.0.113.9",
      },
    }),
    code: Code.PermissionDenied,
    message: "address 203.0.113.9 is denied",
    refusal: true,
    peerIp: "203.0.113.9",
  },
  {
    name: "an X-Forwarded-For beside the Forwarded header the proxies write",
    config: { trustedProxies: "127.0.0.1", ipDeny: "203.0.113.9", forwardedHeader: "forwarded" },
    request: async (server) => ({
      headers: {
        ...bearer(server.apiKey),
        forwarded: 'for=1.2.3.4, for="203.0.113.9:5050";proto=https',
        "x-forwarded-for": "1.2.3.4",
      },
    }),
    code: Code.PermissionDenied,
    message: "address 203.0.113.9 is denied",
    refusal: true,
    peerIp: "203.0.113.9",
  },
  {
    name: "a blocked country, from a trusted proxy",
    config: { trustedProxies: "127.0.0.1", blockCountries: "KP" },
    request: async (server) => ({ headers: { ...bearer(server.apiKey), "cf-ipcountry": "KP" } }),
    code: Code.PermissionDenied,
    message: "country KP is blocked",
    refusal: true,
  },
  {
    name: "a blocked country, from a MaxMind database",
    config: {
      trustedProxies: "127.0.0.1",
      countryDatabase: geoDatabase,
      blockCountries: "GB",
    },
    // The proxy forwards a client whose address the database places in Great Britain.
    request: async (server) => ({
      headers: { ...bearer(server.apiKey), "x-forwarded-for": "81.2.69.142" },
    }),
    code: Code.PermissionDenied,
    message: "country GB is blocked",
    refusal: true,
    peerIp: "81.2.69.142",
  },
  {
    name: "an oversized message",
    config: { maxMessageBytes: 2048 },
    request: async (server) => ({
      headers: bearer(server.apiKey),
      body: `{"spec":{"echo":{"text":"${"x".repeat(4096)}"}}}`,
    }),
    code: Code.ResourceExhausted,
    message: "larger than configured",
    refusal: false,
  },
  {
    name: "an oversized signed message, refused before its signature is checked",
    config: { maxMessageBytes: 2048 },
    request: async (server) => {
      const body = `{"spec":{"echo":{"text":"${"x".repeat(4096)}"}}}`;
      return { headers: await signed(await signingKey(server), body), body };
    },
    code: Code.ResourceExhausted,
    message: "request body exceeds 2112 bytes",
    refusal: true,
  },
  {
    name: "a gzip bomb",
    config: { maxMessageBytes: 64 * 1024 },
    request: async (server) => ({
      headers: { ...bearer(server.apiKey), "content-encoding": "gzip" },
      body: `{"spec":{"echo":{"text":"${"x".repeat(8 * 1024 * 1024)}"}}}`,
      gzip: true,
    }),
    code: Code.ResourceExhausted,
    message: "",
    refusal: false,
  },
  ...signatureRows,
  {
    name: "a replayed nonce",
    request: async (server) => {
      const headers = await signed(await signingKey(server), goodBody);
      expect((await post(server, headers)).status).toBe(200);
      return { headers };
    },
    code: Code.Unauthenticated,
    message: "already used",
    refusal: true,
  },
  {
    name: "a body changed after signing",
    request: async (server) => ({
      headers: await signed(await signingKey(server), goodBody),
      body: '{"spec":{"echo":{"text":"tampered"}}}',
    }),
    code: Code.Unauthenticated,
    message: "does not match",
    refusal: true,
  },
  {
    name: "an unsigned request with a key that requires signatures",
    request: async (server) => ({ headers: bearer(await signingKey(server)) }),
    code: Code.Unauthenticated,
    message: "requires signed requests",
    refusal: true,
  },
  {
    name: "a message nested 10,000 deep",
    request: async (server) => ({
      headers: bearer(server.apiKey),
      body: `{"spec":{"echo":{"text":${"[".repeat(10_000)}${"]".repeat(10_000)}}}}`,
    }),
    code: Code.InvalidArgument,
    message: "cannot decode",
    refusal: false,
  },
];

describe("the door, one row per way in that must fail", () => {
  const servers = new Map<string, TestAgent>();
  const serverFor = async (config: Partial<AgentConfig> = {}) => {
    const name = JSON.stringify(config);
    let server = servers.get(name);
    if (server === undefined) {
      server = await startTestAgent(config);
      servers.set(name, server);
    }
    return server;
  };
  afterAll(async () => {
    for (const server of servers.values()) await server.stop();
  });

  it.each(rows)("answers $name with the exact code and an audit row", async (row) => {
    const server = await serverFor(row.config);
    const { headers, body, path, gzip } = await row.request(server);
    const since = Date.now();
    const sent = gzip ? gzipSync(body ?? goodBody) : (body ?? goodBody);
    const response = await fetch(new URL(path ?? submitPath, server.url), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: sent,
    });
    const json = (await response.json()) as { code?: string; message?: string };
    if (row.code === "ok") {
      expect(json).not.toHaveProperty("code");
    } else {
      expect(codeFromString(json.code ?? "")).toBe(row.code);
      expect(json.message).toContain(row.message);
    }
    const [event] = await audited(server, since, 1);
    expect(event?.code).toBe(row.code === "ok" ? "ok" : json.code);
    expect(event?.peerIp).toBe(row.peerIp ?? "127.0.0.1");
    expect(event?.reason !== "").toBe(row.refusal);
    // The server serves the next good request.
    const next = await post(server, bearer(server.apiKey));
    expect(next.message).toBe("");
    expect(next.status).toBe(200);
  });

  it("limits a key's rate: the N+1th request in a window waits, with retry-after, and the bucket refills", async () => {
    // A token every half second: the four requests fall in one window even on a busy machine.
    const server = await serverFor({ rateLimitPerSecond: 2, rateLimitBurst: 3 });
    const key = await keyWith(server, [Scope.TASKS_SUBMIT]);
    for (let i = 0; i < 3; i++) expect((await post(server, bearer(key))).status).toBe(200);
    const over = await post(server, bearer(key));
    expect(over.code).toBe(Code.ResourceExhausted);
    expect(over.message).toContain("over its rate limit");
    expect(over.headers.get("retry-after")).toBe("1");
    await expect
      .poll(async () => (await post(server, bearer(key))).status, { interval: 20 })
      .toBe(200);
  });

  it("limits a key per scope too: reads go on while submits wait", async () => {
    const server = await serverFor({ scopeRateLimits: "tasks:submit=1/2" });
    const key = await keyWith(server, [Scope.TASKS_SUBMIT, Scope.TASKS_READ]);
    for (let i = 0; i < 2; i++) expect((await post(server, bearer(key))).status).toBe(200);
    expect((await post(server, bearer(key))).code).toBe(Code.ResourceExhausted);
    const read = await post(
      server,
      bearer(key),
      '{"taskId":"nope"}',
      "/noizylab.agent.v1.TaskService/GetTask",
    );
    expect(read.code).toBe(Code.NotFound);
  });

  it("takes signed unary and server-streaming calls over Connect, gRPC and gRPC-Web, binary and JSON", async () => {
    const server = await serverFor();
    const key = await signingKey(server);
    const variants = [
      { protocol: "connect", useJson: false },
      { protocol: "connect", useJson: true },
      { protocol: "grpc", useJson: false },
      { protocol: "grpc-web", useJson: false },
      { protocol: "grpc-web", useJson: true },
    ] as const;
    for (const variant of variants) {
      const client = createAgentClient({
        baseUrl: server.url.href,
        apiKey: key,
        sign: true,
        ...variant,
      });
      const { task } = await client.tasks.submit({ spec: { task: { case: "uuid", value: {} } } });
      expect(task?.type).toBe("uuid");
      const result = await client.run({ case: "echo", value: { text: JSON.stringify(variant) } });
      expect(result.text).toBe(JSON.stringify(variant));
    }
  });

  it("answers gRPC callers refused at the door with the gRPC status, and grpc-js reads it", async () => {
    const server = await serverFor();
    const client = createAgentClient({ baseUrl: server.url.href, protocol: "grpc" });
    const failed = client.tasks.submit({ spec: { task: { case: "echo", value: { text: "x" } } } });
    await expect(failed).rejects.toBeInstanceOf(ConnectError);
    await expect(failed).rejects.toMatchObject({ code: Code.Unauthenticated });
    const web = createAgentClient({
      baseUrl: server.url.href,
      protocol: "grpc-web",
      apiKey: generateKey().key,
    });
    await expect(web.tasks.getTask({ taskId: "x" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const streaming = createAgentClient({
      baseUrl: server.url.href,
      apiKey: await keyWith(server, [Scope.TASKS_READ]),
    });
    const run = (async () => {
      for await (const _ of streaming.tasks.run({
        spec: { task: { case: "echo", value: { text: "x" } } },
      })) {
        // A refused stream yields nothing.
      }
    })();
    await expect(run).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});

/** rulesDenying are network rules that let in every address but those of the CIDRs given. */
const rulesDenying = (deny: string[]) =>
  createNetworkRules({
    allow: [],
    deny,
    trustedProxies: [],
    forwardedHeader: "x-forwarded-for",
    countryHeader: "cf-ipcountry",
    allowCountries: [],
    blockCountries: [],
    allowUnknownCountry: true,
  });

describe("the door's network rules", () => {
  it("matches an IPv4-mapped IPv6 peer against its IPv4 rule", async () => {
    const dir = tempDir();
    const store = createSqliteStore({ path: join(dir, "door.db") });
    const door = createDoor({
      keys: createKeyManager(store.keys),
      network: rulesDenying(["10.0.0.0/8"]),
      limiter: createRateLimiter(),
      defaultRateLimit: { perSecond: 1, burst: 1 },
      openPaths: [],
      nonces: store.keys,
      maxStreamsPerKey: 10,
      maxSessionsPerKey: 10,
    });
    await expect(
      door.admit({ path: submitPath, headers: {}, socketAddress: "::ffff:10.9.8.7" }),
    ).rejects.toMatchObject({
      error: { code: Code.PermissionDenied, rawMessage: "address 10.9.8.7 is denied" },
    });
    expect(
      await door.admit({ path: "/grpc.health.v1.Health/Check", headers: {}, socketAddress: "::1" }),
    ).toMatchObject({
      caller: undefined,
      peer: { ip: "::1" },
    });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("the door's admission of a key it has read", () => {
  it("answers at once, from memory, and still refuses as the store says", async () => {
    const dir = tempDir();
    const store = createSqliteStore({ path: join(dir, "door.db") });
    const keys = createKeyManager(store.keys);
    const door = createDoor({
      keys,
      network: rulesDenying([]),
      limiter: createRateLimiter(),
      defaultRateLimit: { perSecond: 0.001, burst: 2 },
      openPaths: [],
      nonces: store.keys,
      maxStreamsPerKey: 10,
      maxSessionsPerKey: 10,
    });
    const { key, info } = await keys.create({ name: "test", scopes: [Scope.TASKS_SUBMIT] });
    const request = { path: submitPath, headers: bearer(key), socketAddress: "127.0.0.1" };
    // The key's row is read from the file once, so the first admission waits for it.
    const first = door.admit(request);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ caller: { keyId: info.keyId } });
    const second = door.admit(request);
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toMatchObject({ caller: { keyId: info.keyId }, peer: { ip: "127.0.0.1" } });
    // Refusals decided from memory come as rejections too: a scope the key lacks...
    await expect(
      door.admit({ ...request, path: "/noizylab.agent.v1.KeyService/ListKeys" }),
    ).rejects.toMatchObject({ error: { code: Code.PermissionDenied } });
    // ...its burst of two, spent...
    await expect(door.admit(request)).rejects.toMatchObject({
      error: { code: Code.ResourceExhausted },
    });
    // ...and its revocation, though its caller was remembered.
    await keys.revoke(info.keyId);
    await expect(door.admit(request)).rejects.toMatchObject({
      error: { code: Code.Unauthenticated, rawMessage: `API key ${info.keyId} was revoked` },
    });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("the audit row of a call on the fast path", () => {
  it("names the task the call submitted", async () => {
    const server = await startTestAgent();
    try {
      const since = Date.now();
      const response = await fetch(new URL(submitPath, server.url), {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(server.apiKey) },
        body: goodBody,
      });
      const { task } = (await response.json()) as { task: { id: string } };
      const [event] = await audited(server, since, 1);
      expect(event).toMatchObject({ code: "ok", taskId: task.id, taskType: "echo" });
    } finally {
      await server.stop();
    }
  });
});
