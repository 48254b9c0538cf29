import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AgentService,
  PingRequestSchema,
  WatchEventsRequestSchema,
} from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { createAuditLog } from "../audit/audit-log.js";
import { loadConfig } from "../config.js";
import { Pacer, workPerTurn } from "../listener/pacer.js";
import { takeStreams } from "../listener/take-streams.js";
import { createDoor } from "../security/door.js";
import { doorOptionsOf } from "../security/door-config.js";
import { createKeyManager } from "../security/key-manager.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { createRpcHandler } from "./rpc-handler.js";

// The same service behind connect-node's stock adapter and behind ours (with the door open
// to everyone, so it lets every request through): the protocol must not tell them apart.
// The payload's first byte picks what Ping does: 0 answers, 255 answers after 300 ms, any
// other value is the code of the error it throws; each with a header and a trailer of its own.
// 254 answers without them.
const service: Partial<ServiceImpl<typeof AgentService>> = {
  async ping(request, context) {
    const code = request.payload[0] ?? 0;
    if (code === 254) return { payload: request.payload };
    context.responseHeader.set("x-test-header", "from-handler");
    context.responseTrailer.set("x-test-trailer", "after");
    // 255 answers late, unless the call's deadline passes first.
    if (code === 255) {
      await sleep(300, undefined, { signal: context.signal }).catch(() => {
        throw context.signal.reason;
      });
    } else if (code !== 0) {
      throw new ConnectError(`failing with code ${code}`, code as Code, { "x-error-meta": "yes" });
    }
    return { payload: request.payload };
  },
  // A server stream of two events; with more than one channel asked for, it then fails.
  async *watchEvents(request, context) {
    context.responseHeader.set("x-test-header", "stream");
    yield { event: { subscriptionId: "first" } };
    yield { event: { subscriptionId: "second" } };
    if (request.channels.length > 1) throw new ConnectError("the stream broke", Code.Aborted);
  },
};
const routes = (router: ConnectRouter) => router.service(AgentService, service);
const routerOptions = { readMaxBytes: 1024 * 1024, writeMaxBytes: 1024 * 1024 };

let stock: Http2Server;
let ours: Http2Server;
let stock1: HttpServer;
let ours1: HttpServer;
let store: Store;
const urls = { stock: "", ours: "", stock1: "", ours1: "" };

async function listen(server: Http2Server | HttpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  store = createSqliteStore({ path: ":memory:" });
  const config = { ...loadConfig({ env: {} }), openPaths: "*" };
  const keys = createKeyManager(store.keys);
  const audit = createAuditLog({
    store: store.audit,
    retentionDays: 1,
    flushIntervalMs: 1_000,
    enabled: false,
    onError: () => {},
  });
  const handler = createRpcHandler({
    routes,
    router: routerOptions,
    door: createDoor(doorOptionsOf(config, keys, store)),
    audit,
    maxMessageBytes: 1024 * 1024,
    corsOrigins: [],
    onError: (error) => {
      throw error;
    },
  });
  const adapter = connectNodeAdapter({ routes, ...routerOptions });
  stock = createServer(adapter);
  ours = createServer(handler);
  // Unary calls (in gRPC, gRPC-Web and Connect; over HTTP/1.1 in all but gRPC) and gRPC
  // server streams take our fast path: it must answer alike too.
  takeStreams(ours, handler.stream, new Pacer(workPerTurn));
  stock1 = createHttpServer(adapter);
  ours1 = createHttpServer((request, response) => handler(request, response));
  urls.stock = await listen(stock);
  urls.ours = await listen(ours);
  urls.stock1 = await listen(stock1);
  urls.ours1 = await listen(ours1);
});

afterAll(async () => {
  for (const server of [stock, ours, stock1, ours1]) {
    await new Promise((resolve) => server.close(resolve));
  }
  await store.close();
});

interface Exchange {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly trailers: Record<string, string>;
  readonly body: string;
}

// Headers that differ by nature between two servers answering at different moments.
const volatile = new Set([":status", "date"]);

function plain(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers)
      .filter(([name]) => !volatile.has(name))
      .map(([name, value]) => [name, String(value)])
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** exchange sends one HTTP/2 request and collects everything that came back. */
function exchange(
  base: string,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const session = connect(base);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, ...headers });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = plain(h);
    });
    stream.on("trailers", (t) => {
      trailers = plain(t);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      session.close();
      resolve({
        status,
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks).toString("base64"),
      });
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

const ping = (code: number, size = 3) => {
  const payload = new Uint8Array(size).fill(1);
  payload[0] = code;
  return toBinary(PingRequestSchema, create(PingRequestSchema, { payload }));
};

/** envelope frames a message as gRPC and Connect streams do: flags, length, message. */
function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const framed = new Uint8Array(5 + message.byteLength);
  framed[0] = flags;
  new DataView(framed.buffer).setUint32(1, message.byteLength);
  framed.set(message, 5);
  return framed;
}

const path = "/noizylab.agent.v1.AgentService/Ping";
const stream = "/noizylab.agent.v1.AgentService/WatchEvents";
const watch = (channels: number) =>
  envelope(
    toBinary(
      WatchEventsRequestSchema,
      create(WatchEventsRequestSchema, {
        channels: Array.from({ length: channels }, () => ({
          target: { case: "metrics" as const, value: {} },
        })),
      }),
    ),
  );
const codes = Array.from({ length: 16 }, (_, i) => i + 1);

const cases: [string, string, Record<string, string>, Uint8Array][] = [
  ["Connect binary, success", path, { "content-type": "application/proto" }, ping(0)],
  [
    "Connect JSON, success",
    path,
    { "content-type": "application/json" },
    Buffer.from('{"payload":"AAEC"}'),
  ],
  [
    "gRPC, success",
    path,
    { "content-type": "application/grpc", te: "trailers" },
    envelope(ping(0)),
  ],
  ["gRPC-Web, success", path, { "content-type": "application/grpc-web+proto" }, envelope(ping(0))],
  ["Connect, success without metadata", path, { "content-type": "application/proto" }, ping(254)],
  [
    "gRPC, success without metadata",
    path,
    { "content-type": "application/grpc", te: "trailers" },
    envelope(ping(254)),
  ],
  [
    "gRPC-Web, success without metadata",
    path,
    { "content-type": "application/grpc-web+proto" },
    envelope(ping(254)),
  ],
  ["gRPC-Web, bare type", path, { "content-type": "application/grpc-web" }, envelope(ping(0))],
  [
    "gRPC-Web JSON",
    path,
    { "content-type": "application/grpc-web+json" },
    envelope(Buffer.from('{"payload":"AAEC"}')),
  ],
  ...codes.map((code): [string, string, Record<string, string>, Uint8Array] => [
    `gRPC-Web, error code ${code}`,
    path,
    { "content-type": "application/grpc-web+proto" },
    envelope(ping(code)),
  ]),
  [
    "gRPC-Web gzip accepted, large answer",
    path,
    { "content-type": "application/grpc-web+proto", "grpc-accept-encoding": "gzip" },
    envelope(ping(0, 4096)),
  ],
  [
    "gRPC gzip accepted, large answer",
    path,
    { "content-type": "application/grpc", te: "trailers", "grpc-accept-encoding": "gzip" },
    envelope(ping(0, 4096)),
  ],
  [
    "Connect gzip accepted, large answer",
    path,
    { "content-type": "application/proto", "accept-encoding": "gzip" },
    ping(0, 4096),
  ],
  [
    "gRPC-Web trailer envelope in the request",
    path,
    { "content-type": "application/grpc-web+proto" },
    Buffer.concat([envelope(ping(0)), envelope(Buffer.from("x: y\r\n"), 0x80)]),
  ],
  ["gRPC-Web empty body", path, { "content-type": "application/grpc-web+proto" }, new Uint8Array()],
  [
    "malformed gRPC-Web frame",
    path,
    { "content-type": "application/grpc-web+proto" },
    new Uint8Array([0, 0, 0, 0, 9, 1]),
  ],
  ...codes.map((code): [string, string, Record<string, string>, Uint8Array] => [
    `Connect, error code ${code}`,
    path,
    { "content-type": "application/proto" },
    ping(code),
  ]),
  ...codes.map((code): [string, string, Record<string, string>, Uint8Array] => [
    `gRPC, error code ${code}`,
    path,
    { "content-type": "application/grpc", te: "trailers" },
    envelope(ping(code)),
  ]),
  [
    "request metadata is not echoed",
    path,
    { "content-type": "application/proto", "x-custom": "v" },
    ping(0),
  ],
  [
    "Connect timeout header",
    path,
    { "content-type": "application/proto", "connect-timeout-ms": "5000" },
    ping(0),
  ],
  [
    "gRPC timeout header",
    path,
    { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "5S" },
    envelope(ping(0)),
  ],
  [
    "Connect deadline passed",
    path,
    { "content-type": "application/proto", "connect-timeout-ms": "50" },
    ping(255),
  ],
  [
    "gRPC deadline passed",
    path,
    { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "50m" },
    envelope(ping(255)),
  ],
  [
    "Connect gzip request",
    path,
    { "content-type": "application/proto", "content-encoding": "gzip" },
    gzipSync(ping(0)),
  ],
  [
    "Connect gzip accepted",
    path,
    { "content-type": "application/proto", "accept-encoding": "gzip" },
    ping(0),
  ],
  [
    "gRPC compressed frame",
    path,
    { "content-type": "application/grpc", te: "trailers", "grpc-encoding": "gzip" },
    envelope(gzipSync(ping(0)), 1),
  ],
  [
    "unknown compression",
    path,
    { "content-type": "application/proto", "content-encoding": "zstd" },
    ping(0),
  ],
  [
    "unknown method",
    "/noizylab.agent.v1.AgentService/Nope",
    { "content-type": "application/proto" },
    ping(0),
  ],
  [
    "unknown service",
    "/no.Such/Method",
    { "content-type": "application/grpc", te: "trailers" },
    envelope(ping(0)),
  ],
  ["malformed Connect JSON", path, { "content-type": "application/json" }, Buffer.from("{nope")],
  [
    "malformed gRPC frame",
    path,
    { "content-type": "application/grpc", te: "trailers" },
    new Uint8Array([0, 0, 0, 0, 9, 1]),
  ],
  ["gRPC server stream", stream, { "content-type": "application/grpc", te: "trailers" }, watch(1)],
  [
    "gRPC server stream that fails",
    stream,
    { "content-type": "application/grpc", te: "trailers" },
    watch(2),
  ],
  ["Connect server stream", stream, { "content-type": "application/connect+proto" }, watch(1)],
  [
    "Connect server stream that fails",
    stream,
    { "content-type": "application/connect+proto" },
    watch(2),
  ],
  [
    "gRPC-Web server stream that fails",
    stream,
    { "content-type": "application/grpc-web+proto" },
    watch(2),
  ],
  [
    "malformed binary message",
    path,
    { "content-type": "application/proto" },
    new Uint8Array([0xff, 0xff, 0xff]),
  ],
];

/** exchange1 sends one HTTP/1.1 request (fetch) and collects what came back. */
async function exchange1(
  base: string,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<Exchange> {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers,
    body: Buffer.from(body),
  });
  const answer = Buffer.from(await response.arrayBuffer());
  const responseHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!["date", "connection", "keep-alive"].includes(name)) responseHeaders[name] = value;
  });
  return {
    status: response.status,
    headers: plain(responseHeaders),
    trailers: {},
    body: answer.toString("base64"),
  };
}

// Over HTTP/1.1, only Connect and gRPC-Web: gRPC needs HTTP/2.
const http1Cases = cases.filter(([, , headers]) => headers["content-type"] !== "application/grpc");

describe("our RPC handler against connect-node's stock adapter", () => {
  it.each(http1Cases)(
    "answers the same over HTTP/1.1: %s",
    async (_, requestPath, headers, body) => {
      const [fromStock, fromOurs] = await Promise.all([
        exchange1(urls.stock1, requestPath, headers, body),
        exchange1(urls.ours1, requestPath, headers, body),
      ]);
      expect(fromOurs).toEqual(fromStock);
    },
  );

  it.each(cases)("answers the same: %s", async (_, requestPath, headers, body) => {
    const [fromStock, fromOurs] = await Promise.all([
      exchange(urls.stock, requestPath, headers, body),
      exchange(urls.ours, requestPath, headers, body),
    ]);
    expect(fromOurs).toEqual(fromStock);
  });

  // The one deliberate difference: stock answers a content type it cannot read with an empty
  // 415, ours adds a Connect error saying what to send (see protocol-rejections.ts).
  it("answers an unsupported content type with stock's status, and says what to send", async () => {
    const unsupported = { "content-type": "text/plain" };
    const [fromStock, fromOurs] = await Promise.all([
      exchange(urls.stock, path, unsupported, ping(0)),
      exchange(urls.ours, path, unsupported, ping(0)),
    ]);
    expect(fromStock).toMatchObject({ status: 415, body: "" });
    expect(fromOurs.status).toBe(415);
    expect(fromOurs.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(Buffer.from(fromOurs.body, "base64").toString())).toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining('content type "text/plain" is not one'),
    });
  });
});
