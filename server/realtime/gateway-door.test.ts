import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { connectRealtime } from "../../clients/node/realtime.js";
import { RealtimeError } from "../../clients/shared/realtime-client.js";
import { type CreateKeyRequestSchema, Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { signedHeaders, startTestAgent, type TestAgent } from "../test-support.js";
import { closeCodes } from "./session.js";
import { connectWith, kind, upgradeStatus as upgradeStatusOf } from "./test-socket.js";

const submitPath = "/noizylab.agent.v1.TaskService/Submit";
const echo = { task: { case: "echo" as const, value: { text: "over the socket" } } };
const taskFrame = (requestId: string) => ({
  requestId,
  kind: { case: "task" as const, value: { submit: { spec: echo } } },
});

let server: TestAgent;
let admin: AgentClient;
beforeAll(async () => {
  server = await startTestAgent({ wsMaxSessionsPerKey: 2, maxStreamsPerKey: 2 });
  admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
});
afterAll(() => server.stop());

/** newKey makes a key with the given settings; it returns the key and its id. */
async function newKey(init: Partial<MessageInitShape<typeof CreateKeyRequestSchema>> = {}) {
  const { key, info } = await admin.keys.createKey({
    name: "socket test",
    scopes: [Scope.TASKS_SUBMIT, Scope.TASKS_READ],
    ...init,
  });
  return { key, keyId: info?.keyId ?? "" };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** signedUpgrade is the headers of an upgrade signed with a key: over "/ws", with no body. */
const signedUpgrade = (key: string) => signedHeaders(key, "/ws", "");

/** upgradeStatus tries an upgrade to the test server (see the helper of that name). */
const upgradeStatus = (headers: Record<string, string>) => upgradeStatusOf(server, headers);

const realtimeUrl = () => new URL("/ws", server.url.href.replace("http", "ws")).href;

describe("the gateway's door: a frame is the call it stands for", () => {
  it("holds a key that must sign to a signed upgrade, or a signed auth frame", async () => {
    const { key } = await newKey({ requireSignature: true });
    expect((await upgradeStatus(bearer(key))).status).toBe(401);
    const signed = await connectWith(server, await signedUpgrade(key));
    signed.send(taskFrame("t"));
    expect((await signed.next(kind("task"))).requestId).toBe("t");
    signed.ws.close();
    // A replayed signature is refused like any replayed request.
    const once = await signedUpgrade(key);
    expect((await upgradeStatus(once)).status).toBe(101);
    expect((await upgradeStatus(once)).status).toBe(401);

    const unsigned = await connectWith(server, {});
    unsigned.send({ requestId: "a", kind: { case: "auth", value: { apiKey: key } } });
    const refused = await unsigned.next(kind("error"));
    expect(refused).toMatchObject({ requestId: "a", kind: { value: { code: "unauthenticated" } } });
    expect((await unsigned.closed).code).toBe(closeCodes.unauthenticated);

    const client = connectRealtime({ url: realtimeUrl(), apiKey: key, sign: true });
    const result = await client.submit({ spec: echo });
    expect(result.state).toBe(TaskState.SUCCEEDED);
    client.close();
  });

  it("refuses a rate-limited key's frames as its RPCs are refused, and audits every task frame", async () => {
    const { key, keyId } = await newKey({ rateLimit: { perSecond: 0.001, burst: 3 } });
    const socket = await connectWith(server, {});
    // The session's admission spends a token, as an RPC would; its frames the others.
    socket.send({ requestId: "auth", kind: { case: "auth", value: { apiKey: key } } });
    await socket.next(kind("authenticated"));
    for (const id of ["t1", "t2", "t3"]) socket.send(taskFrame(id));
    const accepted = await Promise.all(
      ["t1", "t2"].map((id) => socket.next((f) => f.requestId === id)),
    );
    expect(accepted.map((f) => f.kind.case)).toEqual(["task", "task"]);
    const refused = await socket.next((f) => f.requestId === "t3");
    const rpc = await createAgentClient({ baseUrl: server.url.href, apiKey: key })
      .tasks.submit({ spec: echo })
      .catch(ConnectError.from);
    expect(rpc).toMatchObject({ code: Code.ResourceExhausted });
    expect(refused.kind).toMatchObject({
      case: "error",
      value: { code: "resource_exhausted", message: expect.stringMatching(/over its rate limit/) },
    });
    const message = (refused.kind.value as { message: string }).message;
    expect(message.replace(/\d+ ms/, "N ms")).toBe(
      (rpc as ConnectError).rawMessage.replace(/\d+ ms/, "N ms"),
    );
    expect((refused.kind.value as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    // One audit event per frame, as for the RPC: the two let in with their tasks, the refusal.
    await expect
      .poll(async () => {
        const { events } = await admin.agent.listAuditEvents({ keyId, pageSize: 100 });
        return events
          .filter((e) => e.protocol === "websocket" && e.procedure === submitPath)
          .map((e) => `${e.code} ${e.taskType}`)
          .sort();
      })
      .toEqual(["ok echo", "ok echo", "resource_exhausted "]);
    socket.ws.close();
  });

  it("takes frames sent while the auth frame is checked, in order, once it succeeds", async () => {
    const { key } = await newKey();
    const socket = await connectWith(server, {});
    socket.send({ requestId: "auth", kind: { case: "auth", value: { apiKey: key } } });
    for (let nonce = 1n; nonce <= 3n; nonce++) {
      socket.send({ requestId: `p${nonce}`, kind: { case: "ping", value: { nonce } } });
    }
    await socket.next(kind("authenticated"));
    const pongs = [await socket.next(kind("pong")), await socket.next(kind("pong"))];
    pongs.push(await socket.next(kind("pong")));
    expect(pongs.map((f) => f.requestId)).toEqual(["p1", "p2", "p3"]);
    expect(socket.frames.filter((f) => f.kind.case === "error")).toEqual([]);
    socket.ws.close();
  });

  it("answers a frame it cannot read with an error that names the frame's request id", async () => {
    const socket = await connectWith(server, bearer(server.apiKey));
    socket.ws.send('{"requestId":"r9","teleport":{}}');
    expect(await socket.next(kind("error"))).toMatchObject({ requestId: "r9" });
    // A binary frame whose request_id (field 1) reads, followed by a field that does not.
    const id = Buffer.from("r10");
    socket.ws.send(Buffer.concat([Buffer.from([0x0a, id.length]), id, Buffer.from([0x22, 0xff])]));
    expect(await socket.next(kind("error"))).toMatchObject({ requestId: "r10" });
    socket.ws.close();
  });

  it("closes a key's sessions at once when it is revoked, and refuses its next frame", async () => {
    const { key, keyId } = await newKey();
    const withHeader = await connectWith(server, bearer(key));
    const withFrame = await connectWith(server, {});
    withFrame.send({ requestId: "a", kind: { case: "auth", value: { apiKey: key } } });
    await withFrame.next(kind("authenticated"));
    await admin.keys.revokeKey({ keyId });
    for (const socket of [withHeader, withFrame]) {
      expect(await socket.closed).toEqual({
        code: closeCodes.revoked,
        reason: `API key ${keyId} was revoked`,
      });
      expect(socket.frames.at(-1)?.kind).toMatchObject({
        case: "error",
        value: { code: "unauthenticated" },
      });
    }
    expect((await upgradeStatus(bearer(key))).status).toBe(401);
  });

  it("closes a key's sessions when it expires", async () => {
    const expiresAt = timestampFromMs(Date.now() + 1_500);
    const { key, keyId } = await newKey({ expiresAt });
    const socket = await connectWith(server, bearer(key));
    const { code, reason } = await socket.closed;
    expect(code).toBe(closeCodes.revoked);
    expect(reason).toMatch(new RegExp(`^API key ${keyId} expired at`));
  });

  it("holds a key to its cap on sessions (2 here) and on streams (2 here)", async () => {
    const { key } = await newKey();
    const sessions = [await connectWith(server, bearer(key)), await connectWith(server, {})];
    sessions[1]?.send({ requestId: "a", kind: { case: "auth", value: { apiKey: key } } });
    await sessions[1]?.next(kind("authenticated"));
    expect(await upgradeStatus(bearer(key))).toMatchObject({ status: 429 });
    const third = await connectWith(server, {});
    third.send({ requestId: "a", kind: { case: "auth", value: { apiKey: key } } });
    expect(await third.next(kind("error"))).toMatchObject({
      kind: { value: { code: "resource_exhausted" } },
    });
    expect((await third.closed).code).toBe(closeCodes.overLimit);
    for (const socket of sessions) socket.ws.close();
    await Promise.all(sessions.map((socket) => socket.closed));
    // A session closed gives its place back.
    await expect.poll(async () => (await upgradeStatus(bearer(key))).status).toBe(101);

    const client = createAgentClient({ baseUrl: server.url.href, apiKey: key });
    const leave = new AbortController();
    const watch = async () => {
      const channels = [{ target: { case: "allTasks" as const, value: {} } }];
      for await (const _ of client.agent.watchEvents({ channels }, { signal: leave.signal })) {
        // Held open until the test leaves.
      }
    };
    const held = [watch().catch(() => {}), watch().catch(() => {})];
    await expect
      .poll(async () => (await admin.agent.getCapabilities({})).realtime?.subscriptions)
      .toBeGreaterThanOrEqual(2);
    await expect(watch()).rejects.toMatchObject({ code: Code.ResourceExhausted });
    leave.abort();
    await Promise.all(held);
  });
});

describe("the gateway's timers", () => {
  it("keeps a session that pings past ten minutes, and closes an idle one at its timeout", async () => {
    const defaults = await startTestAgent();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const pinging = await connectWith(defaults, bearer(defaults.apiKey));
      const idle = await connectWith(defaults, bearer(defaults.apiKey));
      let idleClosed: { code: number; reason: string } | undefined;
      idle.closed.then((closed) => {
        idleClosed = closed;
      });
      // Eleven minutes by the server's clock, in the heartbeat's steps of 30 s: the server
      // pings both (ws answers), and one of them sends a ping frame of its own each time.
      for (let step = 1n; step <= 22n; step++) {
        await vi.advanceTimersByTimeAsync(30_000);
        pinging.send({ requestId: `p${step}`, kind: { case: "ping", value: { nonce: step } } });
        expect((await pinging.next(kind("pong"))).requestId).toBe(`p${step}`);
        // Still open a step before its timeout (five minutes)...
        if (step === 9n) expect(idleClosed).toBeUndefined();
      }
      // ...and closed at it; the other is still open.
      expect(idleClosed).toEqual({ code: closeCodes.idle, reason: "idle timeout" });
      expect(pinging.ws.readyState).toBe(WebSocket.OPEN);
      pinging.ws.close();
    } finally {
      vi.useRealTimers();
      await defaults.stop();
    }
  });
});

describe("the realtime client", () => {
  it("rejects a request its key may not make with the code an RPC gets", async () => {
    const { key } = await newKey({ scopes: [Scope.TASKS_READ] });
    const client = connectRealtime({ url: realtimeUrl(), apiKey: key });
    const refused = await client.submit({ spec: echo }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RealtimeError);
    expect(refused).toMatchObject({ code: "permission_denied" });
    client.close();
  });
});
