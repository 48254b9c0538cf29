import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { ServerFrame } from "../../gen/noizylab/agent/v1/realtime_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent } from "../test-support.js";
import { closeCodes } from "./session.js";
import { connect, connectWith, kind } from "./test-socket.js";

let server: TestAgent;
beforeAll(async () => {
  server = await startTestAgent({
    wsMaxFrameBytes: 4096,
    wsMaxSubscriptions: 2,
    metricsIntervalMs: 50,
  });
});
afterAll(() => server.stop());

describe("the WebSocket gateway", () => {
  it.each([false, true])(
    "submits a task with streamed progress (binary frames: %s)",
    async (binary) => {
      const socket = await connect(server, { binary });
      socket.send({
        requestId: "r1",
        kind: {
          case: "task",
          value: {
            submit: { spec: { task: { case: "delay", value: { durationMs: 30, steps: 3 } } } },
            streamEvents: true,
          },
        },
      });
      const accepted = await socket.next(kind("task"));
      expect(accepted.requestId).toBe("r1");
      const result = await socket.next(kind("result"));
      expect(result.kind.value).toMatchObject({ state: TaskState.SUCCEEDED });
      const progress = socket.frames
        .filter((f) => f.kind.case === "event" && f.kind.value.payload.case === "taskEvent")
        .map(
          (f) =>
            (f.kind.value as { payload: { value: { kind: { case: string } } } }).payload.value.kind
              .case,
        );
      expect(progress.filter((c) => c === "progress")).toHaveLength(3);
      socket.ws.close();
    },
  );

  it("delivers events of tasks submitted over Connect to a task-type subscription", async () => {
    const socket = await connect(server);
    socket.send({
      requestId: "s",
      kind: {
        case: "subscribe",
        value: { channel: { target: { case: "taskType", value: "hash" } } },
      },
    });
    const subscribed = await socket.next(kind("subscribed"));
    const client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    await client.run({ case: "echo", value: { text: "not this one" } });
    const { task } = await client.tasks.submit({
      spec: { task: { case: "hash", value: { input: { case: "text", value: "abc" } } } },
    });
    const events: ServerFrame[] = [];
    while (events.length === 0 || events.at(-1)?.kind.value?.$typeName !== undefined) {
      const frame = await socket.next(kind("event"));
      events.push(frame);
      const value = frame.kind.value as { payload: { value: { state: TaskState } } };
      if (value.payload.value.state === TaskState.SUCCEEDED) break;
    }
    for (const frame of events) {
      expect(frame.kind.value).toMatchObject({
        subscriptionId: (subscribed.kind.value as { subscriptionId: string }).subscriptionId,
        taskType: "hash",
        payload: { case: "taskEvent", value: { taskId: task?.id } },
      });
    }
    expect(events).toHaveLength(3);
    socket.send({
      requestId: "u",
      kind: { case: "unsubscribe", value: { subscriptionId: "nope" } },
    });
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({ code: "not_found" });
    socket.ws.close();
  });

  it("answers malformed, unknown and oversized frames with an error frame and stays up", async () => {
    const socket = await connect(server);
    const probes = [
      ["{not json", "malformed frame"],
      ['{"teleport":{}}', "malformed frame"],
      ["{}", "unknown frame kind"],
      [`{"ping":{"nonce":"1"},"requestId":"${"x".repeat(5000)}"}`, "exceeds the 4096-byte limit"],
      ['{"subscribe":{"channel":{}}}', "a channel is required"],
    ] as const;
    for (const [data, message] of probes) {
      socket.ws.send(data);
      const error = await socket.next(kind("error"));
      expect((error.kind.value as { message: string }).message).toContain(message);
    }
    socket.send({ requestId: "p", kind: { case: "ping", value: { nonce: 7n } } });
    expect((await socket.next(kind("pong"))).kind.value).toMatchObject({ nonce: 7n });
    socket.ws.close();
  });

  it("limits subscriptions per session, and sends metrics snapshots with the session counts", async () => {
    const socket = await connect(server);
    for (const requestId of ["a", "b", "c"]) {
      socket.send({
        requestId,
        kind: { case: "subscribe", value: { channel: { target: { case: "metrics", value: {} } } } },
      });
    }
    await socket.next(kind("subscribed"));
    await socket.next(kind("subscribed"));
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({
      code: "resource_exhausted",
    });
    const metrics = await socket.next(kind("event"));
    expect(metrics.kind.value).toMatchObject({
      payload: { case: "metrics", value: { realtime: { activeSessions: expect.any(Number) } } },
    });
    const capabilities = await createAgentClient({
      baseUrl: server.url.href,
      apiKey: server.apiKey,
    }).agent.getCapabilities({});
    expect(capabilities.realtime?.subscriptions).toBeGreaterThanOrEqual(2);
    expect(capabilities.realtime?.activeSessions).toBeGreaterThanOrEqual(1);
    socket.ws.close();
  });

  it("refuses an upgrade on another path", async () => {
    await expect(connect(server, { path: "/nope" })).rejects.toThrow("404");
  });
});

describe("the gateway's guards", () => {
  it("drops a session that stops answering pings", async () => {
    const guarded = await startTestAgent({ wsHeartbeatMs: 50 });
    const socket = await connect(guarded, { autoPong: false });
    const { code } = await socket.closed;
    expect(code).toBe(1006);
    expect(guarded.agent).toBeDefined();
    await guarded.stop();
  });

  it("closes an idle session with a code and a reason", async () => {
    const guarded = await startTestAgent({ wsIdleTimeoutMs: 100 });
    const socket = await connect(guarded);
    expect(await socket.closed).toEqual({ code: closeCodes.idle, reason: "idle timeout" });
    await guarded.stop();
  });

  it("disconnects a slow consumer instead of buffering without bound", async () => {
    const guarded = await startTestAgent({
      wsMaxBufferedBytes: 64 * 1024,
      rateLimitPerSecond: 100_000,
      rateLimitBurst: 100_000,
    });
    const socket = await connect(guarded);
    socket.send({
      requestId: "s",
      kind: { case: "subscribe", value: { channel: { target: { case: "allTasks", value: {} } } } },
    });
    await socket.next(kind("subscribed"));
    // Stop reading: the kernel's buffers fill, then the session's own.
    (socket.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const client = createAgentClient({ baseUrl: guarded.url.href, apiKey: guarded.apiKey });
    const text = "x".repeat(60_000);
    const submits = Array.from({ length: 300 }, () =>
      client.tasks.submit({ spec: { task: { case: "echo", value: { text } } } }),
    );
    // Read again once the server has given up on the session (its subscription is gone).
    const agent = createAgentClient({ baseUrl: guarded.url.href, apiKey: guarded.apiKey });
    await expect
      .poll(async () => (await agent.agent.getCapabilities({})).realtime?.subscriptions, {
        timeout: 20_000,
      })
      .toBe(0);
    (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await Promise.all(submits);
    const { code, reason } = await socket.closed;
    expect(code).toBe(closeCodes.slowConsumer);
    expect(reason).toBe("slow consumer");
    expect(socket.frames.some((f) => f.kind.case === "error")).toBe(true);
    await guarded.stop();
  });
});

describe("the gateway's door", () => {
  it("refuses a bad key at the upgrade", async () => {
    await expect(
      connectWith(server, { authorization: "Bearer ca_000000000000_nope" }),
    ).rejects.toThrow("401");
  });

  it("takes the key in a first frame, as browsers must, and refuses other frames before it", async () => {
    const socket = await connectWith(server, {});
    socket.send({ requestId: "early", kind: { case: "ping", value: {} } });
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({
      code: "unauthenticated",
    });
    socket.send({ requestId: "auth", kind: { case: "auth", value: { apiKey: server.apiKey } } });
    expect((await socket.next(kind("authenticated"))).requestId).toBe("auth");
    socket.send({ requestId: "p", kind: { case: "ping", value: { nonce: 1n } } });
    await socket.next(kind("pong"));
    socket.ws.close();
  });

  it("applies the network rules at the upgrade even when the key is to come in a frame", async () => {
    const guarded = await startTestAgent({ ipDeny: "127.0.0.1" });
    await expect(connectWith(guarded, {})).rejects.toThrow("403");
    await guarded.stop();
  });

  it("closes a session that never authenticates", async () => {
    const guarded = await startTestAgent({ wsAuthTimeoutMs: 50 });
    const socket = await connectWith(guarded, {});
    expect(await socket.closed).toEqual({
      code: closeCodes.unauthenticated,
      reason: "authentication required",
    });
    await guarded.stop();
  });

  it("holds a session to its key's scopes", async () => {
    const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const { key } = await admin.keys.createKey({ name: "reader", scopes: [Scope.TASKS_READ] });
    const socket = await connectWith(server, { authorization: `Bearer ${key}` });
    socket.send({
      requestId: "t",
      kind: {
        case: "task",
        value: { submit: { spec: { task: { case: "echo", value: { text: "x" } } } } },
      },
    });
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({
      code: "permission_denied",
    });
    socket.send({
      requestId: "m",
      kind: { case: "subscribe", value: { channel: { target: { case: "metrics", value: {} } } } },
    });
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({
      code: "permission_denied",
    });
    socket.send({
      requestId: "audit",
      kind: { case: "subscribe", value: { channel: { target: { case: "audit", value: {} } } } },
    });
    expect((await socket.next(kind("error"))).kind.value).toMatchObject({
      code: "permission_denied",
    });
    socket.send({
      requestId: "a",
      kind: { case: "subscribe", value: { channel: { target: { case: "allTasks", value: {} } } } },
    });
    await socket.next(kind("subscribed"));
    socket.ws.close();
  });

  it("streams the audit trail to admins, over the socket and WatchEvents alike", async () => {
    const socket = await connect(server);
    socket.send({
      requestId: "audit",
      kind: { case: "subscribe", value: { channel: { target: { case: "audit", value: {} } } } },
    });
    await socket.next(kind("subscribed"));
    const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const leave = new AbortController();
    const watched = (async () => {
      for await (const { event } of admin.agent.watchEvents(
        { channels: [{ target: { case: "audit", value: {} } }] },
        { signal: leave.signal },
      )) {
        const audit = event?.payload.case === "auditEvent" ? event.payload.value : undefined;
        if (audit?.procedure.endsWith("/GetTask")) return audit;
      }
      return undefined;
    })();
    await expect
      .poll(async () => (await admin.agent.getCapabilities({})).realtime?.subscriptions)
      .toBeGreaterThanOrEqual(2);
    await admin.tasks.getTask({ taskId: "01a2b3c4-0000-7000-8000-000000000000" }).catch(() => {});
    const viaRpc = await watched;
    leave.abort();
    expect(viaRpc).toMatchObject({ code: "not_found", protocol: "connect" });
    const frame = await socket.next(
      (f) =>
        f.kind.case === "event" &&
        f.kind.value.payload.case === "auditEvent" &&
        f.kind.value.payload.value.procedure.endsWith("/GetTask"),
    );
    expect(frame.kind.value).toMatchObject({ payload: { value: { code: "not_found" } } });
    socket.ws.close();
  });
});
