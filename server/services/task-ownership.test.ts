import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent } from "../test-support.js";

let server: TestAgent;
let admin: AgentClient;
/** A client with a new key of the given scopes, and the key's id. */
async function clientWith(...scopes: Scope[]): Promise<{ client: AgentClient; keyId: string }> {
  const { key, info } = await admin.keys.createKey({ name: "owner test", scopes });
  return {
    client: createAgentClient({ baseUrl: server.url.href, apiKey: key }),
    keyId: info?.keyId ?? "",
  };
}
const delay = { task: { case: "delay" as const, value: { durationMs: 60_000 } } };

beforeAll(async () => {
  server = await startTestAgent();
  admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
});
afterAll(() => server.stop());

describe("tasks belong to the key that submitted them", () => {
  it("scopes idempotency keys to each API key", async () => {
    const a = await clientWith(Scope.TASKS_SUBMIT);
    const b = await clientWith(Scope.TASKS_SUBMIT);
    const first = await a.client.tasks.submit({ spec: delay, idempotencyKey: "invoice-42" });
    const other = await b.client.tasks.submit({ spec: delay, idempotencyKey: "invoice-42" });
    const again = await a.client.tasks.submit({ spec: delay, idempotencyKey: "invoice-42" });
    expect(other.task?.id).not.toBe(first.task?.id);
    expect(other.task?.keyId).toBe(b.keyId);
    expect(again.task?.id).toBe(first.task?.id);
  });

  it("hides another key's tasks from a key without tasks:read:all", async () => {
    const owner = await clientWith(Scope.TASKS_SUBMIT, Scope.TASKS_READ);
    const stranger = await clientWith(Scope.TASKS_SUBMIT, Scope.TASKS_READ);
    const { task } = await owner.client.tasks.submit({ spec: delay });
    const taskId = task?.id ?? "";
    const { task: own } = await stranger.client.tasks.submit({ spec: delay });
    const notFound = { code: Code.NotFound, rawMessage: `task ${taskId} not found` };
    await expect(stranger.client.tasks.getTask({ taskId })).rejects.toMatchObject(notFound);
    await expect(
      stranger.client.tasks.cancelTask({ taskId, reason: "mine now" }),
    ).rejects.toMatchObject(notFound);
    const watch = async () => {
      for await (const _ of stranger.client.tasks.watchTask({ taskId })) break;
    };
    await expect(watch()).rejects.toMatchObject(notFound);
    const { tasks } = await stranger.client.tasks.listTasks({ pageSize: 1_000 });
    expect(tasks.map((t) => t.id)).toEqual([own?.id]);
    expect((await owner.client.tasks.getTask({ taskId })).task?.id).toBe(taskId);
  });

  it("lets tasks:read:all read and watch every key's tasks, admin cancel them, and audits whose", async () => {
    const owner = await clientWith(Scope.TASKS_SUBMIT);
    const reader = await clientWith(Scope.TASKS_READ, Scope.TASKS_READ_ALL, Scope.TASKS_SUBMIT);
    const { task } = await owner.client.tasks.submit({ spec: delay });
    const taskId = task?.id ?? "";
    const since = Date.now();
    expect((await reader.client.tasks.getTask({ taskId })).task?.keyId).toBe(owner.keyId);
    for await (const { event } of reader.client.tasks.watchTask({ taskId })) {
      expect(event?.sequence).toBe(1n);
      break;
    }
    const { tasks } = await reader.client.tasks.listTasks({ pageSize: 1_000 });
    expect(tasks.map((t) => t.id)).toContain(taskId);
    // Reading every key's tasks is not cancelling them.
    await expect(reader.client.tasks.cancelTask({ taskId })).rejects.toMatchObject({
      code: Code.NotFound,
    });
    const { task: cancelled } = await admin.tasks.cancelTask({ taskId, reason: "by admin" });
    expect(cancelled?.state).toBe(TaskState.CANCELLED);
    // The watch's row is written once its stream has closed on the server too.
    const acted = async () => {
      const { events } = await admin.agent.listAuditEvents({ pageSize: 100 });
      return events
        .filter((e) => e.taskId === taskId && Number(e.time?.seconds) * 1000 >= since - 1000)
        .map((e) => [e.procedure.split("/").at(-1), e.code, e.taskOwnerKeyId]);
    };
    await expect.poll(acted).toEqual(
      expect.arrayContaining([
        ["GetTask", "ok", owner.keyId],
        ["WatchTask", expect.any(String), owner.keyId],
        ["CancelTask", "not_found", ""],
        ["CancelTask", "ok", owner.keyId],
      ]),
    );
  });

  it("delivers a channel's task events only of the watcher's own tasks", async () => {
    const owner = await clientWith(Scope.TASKS_SUBMIT, Scope.TASKS_READ);
    const watcher = await clientWith(Scope.TASKS_SUBMIT, Scope.TASKS_READ);
    const controller = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      const stream = watcher.client.agent.watchEvents(
        { channels: [{ target: { case: "taskType", value: "echo" } }] },
        { signal: controller.signal },
      );
      for await (const { event } of stream) {
        if (event?.payload.case !== "taskEvent") continue;
        seen.push(event.payload.value.taskId);
        if (seen.length === 3) return;
      }
    })();
    // The stream is open once the hub counts its subscription.
    await expect
      .poll(async () => (await admin.agent.getCapabilities({})).realtime?.subscriptions)
      .toBeGreaterThan(0);
    const echo = { task: { case: "echo" as const, value: { text: "x" } } };
    await owner.client.tasks.submit({ spec: echo });
    const { task } = await watcher.client.tasks.submit({ spec: echo });
    await watching;
    controller.abort();
    expect(seen).toEqual([task?.id, task?.id, task?.id]);
  });

  it("refuses a key whose rate limit would not limit", async () => {
    await expect(
      admin.keys.createKey({
        name: "unlimited",
        scopes: [Scope.TASKS_SUBMIT],
        rateLimit: { perSecond: -1, burst: 10 },
      }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "rate_limit.per_second: must be more than 0 and at most 1000000, got -1",
    });
    await expect(
      admin.keys.createKey({
        name: "no burst",
        scopes: [Scope.TASKS_SUBMIT],
        rateLimit: { perSecond: 5, burst: 0 },
      }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
