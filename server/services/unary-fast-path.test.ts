import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import {
  connect,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { createAuditLog } from "../audit/audit-log.js";
import { Pacer, workPerTurn } from "../listener/pacer.js";
import { takeStreams } from "../listener/take-streams.js";
import { type Door, Refusal } from "../security/door.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { FastContext } from "./fast-call.js";
import { createRpcHandler } from "./rpc-handler.js";

let store: Store;
let server: Http2Server;
let http1Server: HttpServer;
let baseUrl: string;
let http1Url: string;
let taken = 0;
// Calls over HTTP/1.1 come as requests, not streams: the handler context says which path ran.
let fastPings = 0;
const sessions: ServerHttp2Session[] = [];

beforeAll(async () => {
  store = createSqliteStore({ path: ":memory:" });
  // A door that takes its time: a call without a body has ended before it is read.
  const peer = { ip: "127.0.0.1", country: "" };
  const door: Door = {
    screen: () => peer,
    async admit({ headers }) {
      await sleep(20);
      if (headers["x-refuse"]) {
        throw new Refusal(new ConnectError("refused by the test", Code.PermissionDenied), peer);
      }
      return { caller: undefined, peer };
    },
    signatureDue: () => false,
    verify: async () => {},
    hold: () => () => {},
  };
  const handler = createRpcHandler({
    routes: (router) =>
      router.service(AgentService, {
        ping: (request, context) => {
          if (context instanceof FastContext) fastPings++;
          return { payload: request.payload, serverTime: timestampNow() };
        },
      }),
    router: {},
    door,
    audit: createAuditLog({
      store: store.audit,
      retentionDays: 1,
      flushIntervalMs: 1_000,
      enabled: false,
      onError: () => {},
    }),
    maxMessageBytes: 1024,
    corsOrigins: ["https://app.example"],
    onError: (error) => {
      throw error;
    },
  });
  server = createServer(handler);
  server.on("session", (session) => sessions.push(session));
  takeStreams(
    server,
    (stream, headers) => {
      const took = handler.stream(stream, headers);
      if (took) taken++;
      return took;
    },
    new Pacer(workPerTurn),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  http1Server = createHttpServer(handler);
  await new Promise<void>((resolve) => http1Server.listen(0, "127.0.0.1", resolve));
  http1Url = `http://127.0.0.1:${(http1Server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const session of sessions) session.destroy();
  await new Promise((resolve) => server.close(resolve));
  http1Server.closeAllConnections();
  await new Promise((resolve) => http1Server.close(resolve));
  await store.close();
});

/** postJson sends a Connect JSON Ping with extra headers; it returns the answer's headers. */
async function postJson(headers: Record<string, string>): Promise<IncomingHttpHeaders> {
  const session = connect(baseUrl);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/noizylab.agent.v1.AgentService/Ping",
        "content-type": "application/json",
        ...headers,
      });
      let answer: IncomingHttpHeaders = {};
      stream.once("response", (received) => {
        answer = received;
      });
      stream.on("data", () => {});
      stream.once("end", () => resolve(answer));
      stream.once("error", reject);
      stream.end("{}");
    });
  } finally {
    session.close();
  }
}

describe("the unary fast path", () => {
  it("answers calls whose body ended before the door let them in, in gRPC and Connect", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl }),
      createConnectTransport({ baseUrl, httpVersion: "2" }),
    ]) {
      const client = createClient(AgentService, transport);
      // An empty message is an empty Connect body; gRPC still frames it.
      expect((await client.ping({})).payload).toEqual(new Uint8Array());
      const payload = new Uint8Array([1, 2, 3]);
      expect((await client.ping({ payload })).payload).toEqual(payload);
    }
    expect(taken).toBe(4);
  });

  it("gives a browser's calls, answered or refused, the CORS headers its origin is allowed", async () => {
    const before = taken;
    const allowed = await postJson({ origin: "https://app.example" });
    expect(allowed).toMatchObject({
      ":status": 200,
      "access-control-allow-origin": "https://app.example",
      "access-control-expose-headers": expect.stringContaining("grpc-status"),
      vary: "origin",
    });
    const refused = await postJson({ origin: "https://app.example", "x-refuse": "1" });
    expect(refused).toMatchObject({
      ":status": 403,
      "access-control-allow-origin": "https://app.example",
    });
    const other = await postJson({ origin: "https://elsewhere.example" });
    expect(other[":status"]).toBe(200);
    expect(other["access-control-allow-origin"]).toBeUndefined();
    // All three took the fast path.
    expect(taken).toBe(before + 3);
  });

  it("takes Connect calls over HTTP/1.1 too, refusals and CORS headers included", async () => {
    const before = fastPings;
    for (const useBinaryFormat of [true, false]) {
      const transport = createConnectTransport({
        baseUrl: http1Url,
        httpVersion: "1.1",
        useBinaryFormat,
      });
      const client = createClient(AgentService, transport);
      expect((await client.ping({})).payload).toEqual(new Uint8Array());
      const payload = new Uint8Array([1, 2, 3]);
      expect((await client.ping({ payload })).payload).toEqual(payload);
    }
    expect(fastPings).toBe(before + 4);
    const ping = (headers: Record<string, string>) =>
      fetch(`${http1Url}/noizylab.agent.v1.AgentService/Ping`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: "{}",
      });
    const allowed = await ping({ origin: "https://app.example" });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const refused = await ping({ origin: "https://app.example", "x-refuse": "1" });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(await refused.json()).toEqual({
      code: "permission_denied",
      message: "refused by the test",
    });
    expect(fastPings).toBe(before + 5);
  });
});
