import { rmSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { FieldViolationSchema } from "../../gen/noizylab/agent/v1/errors_pb.js";
import { type TaskSpec, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { createMetricsSource } from "../analytics/metrics-snapshot.js";
import { createAuditLog } from "../audit/audit-log.js";
import { createEngine } from "../engine/engine.js";
import { createDurationStats, routeSpec } from "../engine/routing.js";
import { createPluginHost } from "../plugins/plugin-host.js";
import { createChannelHub } from "../realtime/channel-hub.js";
import { createKeyManager } from "../security/key-manager.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import { createTaskRegistry } from "../tasks/registry.js";
import { tempDir } from "../test-support.js";
import { createHealthStatus } from "./health-service.js";
import { routes } from "./routes.js";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function inMemory() {
  const store = createSqliteStore({ path: join(dir, `service-${files++}.db`) });
  const registry = createTaskRegistry();
  const engine = createEngine({
    store,
    registry,
    onError: (error) => {
      throw error;
    },
    maxConcurrentTasks: 2,
    maxRunningTasksPerKey: 2,
    defaultTimeoutMs: 5_000,
    maxTimeoutMs: 60_000,
    maxOutputBytes: 1024 * 1024,
    maxAttempts: 3,
    maxTasksPerKey: 1_000,
    maxQueuedTasks: 10_000,
    streamIdleTimeoutMs: 60_000,
    leaseMs: 3_600_000,
    instanceId: "only",
  });
  await engine.start();
  const health = createHealthStatus();
  health.set(ServingStatus.SERVING);
  const audit = createAuditLog({
    store: store.audit,
    retentionDays: 30,
    flushIntervalMs: 50,
    enabled: true,
    onError: (error) => {
      throw error;
    },
  });
  const realtime = () => ({
    activeSessions: 0,
    totalSessions: 0n,
    subscriptions: hub.subscriptionCount,
  });
  const hub = createChannelHub({
    taskEvents: engine.onEvent,
    auditEvents: audit.onRecord,
    snapshot: createMetricsSource({ engine, store, realtime }),
    metricsIntervalMs: 20,
    onError: (error) => {
      throw error;
    },
  });
  const transport = createRouterTransport(
    routes({
      engine,
      keys: createKeyManager(store.keys),
      audit,
      auditStore: store.audit,
      streamIdleTimeoutMs: 60_000,
      registry,
      health,
      hub,
      realtime,
      plugins: createPluginHost({ directories: [], reservedTypes: new Set(), log: () => {} }),
      version: "test",
      features: ["connect"],
      maxBatchSize: 3,
      maxPageSize: 100,
      limits: {
        maxMessageBytes: 1024 * 1024,
        maxBatchSize: 3,
        maxConcurrentTasks: 2,
        maxRunningTasksPerKey: 2,
        defaultTimeoutMs: 5_000,
        maxTimeoutMs: 60_000,
        maxPageSize: 100,
      },
    }),
  );
  return {
    tasks: createClient(TaskService, transport),
    agent: createClient(AgentService, transport),
    hub,
  };
}

async function codeOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("TaskService in memory", () => {
  it("submits, gets and runs a task with streamed events", async () => {
    const { tasks } = await inMemory();
    const submitted = await tasks.submit({
      spec: { task: { case: "echo", value: { text: "hi" } } },
    });
    // A pure task runs as it is submitted: the answer is the task finished.
    expect(submitted).toMatchObject({
      created: true,
      task: {
        type: "echo",
        state: TaskState.SUCCEEDED,
        result: { result: { case: "echo", value: { text: "hi" } } },
      },
    });
    // No priority given: the routing scorer's.
    expect(submitted.task?.priority).toBe(
      routeSpec(submitted.task?.spec as TaskSpec, createDurationStats()).priority,
    );
    const states = [];
    for await (const { event } of tasks.run({
      spec: { task: { case: "delay", value: { durationMs: 20, steps: 2 } } },
    })) {
      states.push(event?.kind.case);
    }
    expect(states).toEqual(["stateChange", "stateChange", "progress", "progress", "result"]);
    const got = await tasks.getTask({ taskId: submitted.task?.id ?? "" });
    expect(got.task?.id).toBe(submitted.task?.id);
  });

  it("answers bad input with the right code, a message naming the field and a FieldViolation", async () => {
    const { tasks } = await inMemory();
    const empty = await codeOf(tasks.submit({ spec: {} }));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toMatch(/^spec: a task is required: set one of echo, delay/);
    const [violation] = empty.findDetails(FieldViolationSchema);
    expect(violation?.field).toBe("spec");
    expect(violation?.description).toContain("a task is required");
    const range = await codeOf(
      tasks.submit({ spec: { task: { case: "uuid", value: { count: 5000 } } } }),
    );
    expect(range.code).toBe(Code.InvalidArgument);
    expect(range.findDetails(FieldViolationSchema)[0]?.field).toBe("spec.uuid.count");
    const missing = await codeOf(tasks.getTask({ taskId: "01a2b3c4-0000-7000-8000-000000000000" }));
    expect(missing.code).toBe(Code.NotFound);
    expect((await codeOf(tasks.getTask({ taskId: "" }))).code).toBe(Code.InvalidArgument);
    const watchMissing = codeOf(
      (async () => {
        for await (const _ of tasks.watchTask({ taskId: "nope" })) {
          // Nothing arrives for an unknown task.
        }
      })(),
    );
    expect((await watchMissing).code).toBe(Code.NotFound);
  });

  it("refuses to cancel a finished task with FailedPrecondition", async () => {
    const { tasks } = await inMemory();
    let id = "";
    for await (const { event } of tasks.run({
      spec: { task: { case: "echo", value: { text: "x" } } },
    })) {
      id = event?.taskId ?? id;
    }
    const error = await codeOf(tasks.cancelTask({ taskId: id }));
    expect(error.code).toBe(Code.FailedPrecondition);
  });

  it("submits a batch with an outcome per item, and refuses one over the limit", async () => {
    const { tasks } = await inMemory();
    const { results } = await tasks.submitBatch({
      requests: [
        { spec: { task: { case: "echo", value: { text: "a" } } }, idempotencyKey: "batch-a" },
        { spec: {} },
        { spec: { task: { case: "echo", value: { text: "again" } } }, idempotencyKey: "batch-a" },
      ],
    });
    expect(results.map((r) => r.outcome.case)).toEqual(["submitted", "error", "submitted"]);
    expect(results[1]?.outcome.value).toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("requests[1].spec"),
    });
    const [first, , third] = results.map((r) =>
      r.outcome.case === "submitted" ? r.outcome.value : undefined,
    );
    expect(third).toMatchObject({ created: false, task: { id: first?.task?.id } });
    const tooMany = await codeOf(
      tasks.submitBatch({ requests: Array.from({ length: 4 }, () => ({ spec: {} })) }),
    );
    expect(tooMany.code).toBe(Code.InvalidArgument);
    expect(tooMany.rawMessage).toBe("requests: at most 3 requests per batch, got 4");
  });

  it("lists tasks newest first, filtered, one page at a time", async () => {
    const { tasks } = await inMemory();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { task } = await tasks.submit({ spec: { task: { case: "uuid", value: {} } } });
      ids.push(task?.id ?? "");
    }
    await tasks.submit({ spec: { task: { case: "delay", value: { durationMs: 1 } } } });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await tasks.listTasks({ types: ["uuid"], pageSize: 2, pageToken });
      expect(page.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...page.tasks.map((t) => t.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(ids.reverse());
    expect((await codeOf(tasks.listTasks({ pageToken: "garbage" }))).code).toBe(
      Code.InvalidArgument,
    );
    expect((await codeOf(tasks.listTasks({ pageSize: 101 }))).code).toBe(Code.InvalidArgument);
  });
});

describe("AgentService in memory", () => {
  it("describes every task type with its messages, the limits and the features", async () => {
    const { agent } = await inMemory();
    const capabilities = await agent.getCapabilities({});
    expect(capabilities.taskTypes.map((t) => t.name)).toEqual([
      "echo",
      "delay",
      "hash",
      "encode",
      "uuid",
      "timestamp",
      "random",
      "compress",
      "json-validator",
      "text-analysis",
      "api-tester",
      "smart-routing",
      "image-metadata",
    ]);
    expect(capabilities.taskTypes[1]).toMatchObject({
      specField: "delay",
      requestMessage: "noizylab.agent.v1.DelayTask",
      resultMessage: "noizylab.agent.v1.DelayResult",
    });
    expect(capabilities.limits?.maxBatchSize).toBe(3);
  });

  it("streams channel events with WatchEvents, from the same hub as the gateway", async () => {
    const { agent, tasks, hub } = await inMemory();
    const leave = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      try {
        for await (const { event } of agent.watchEvents(
          {
            channels: [
              { target: { case: "taskType", value: "uuid" } },
              { target: { case: "metrics", value: {} } },
            ],
          },
          { signal: leave.signal },
        )) {
          if (event?.payload.case === "taskEvent") seen.push(event.payload.value.kind.case ?? "");
          if (event?.payload.case === "taskEvent" && event.payload.value.kind.case === "result")
            leave.abort();
        }
      } catch (error) {
        expect(ConnectError.from(error).code).toBe(Code.Canceled);
      }
    })();
    await expect.poll(() => hub.subscriptionCount).toBe(2);
    await tasks.submit({ spec: { task: { case: "uuid", value: {} } } });
    await watching;
    expect(seen).toEqual(["stateChange", "stateChange", "result"]);
    await expect.poll(() => hub.subscriptionCount).toBe(0);
    const empty = await codeOf(
      (async () => {
        for await (const _ of agent.watchEvents({ channels: [{}] })) {
          // Nothing arrives on a channel with no target.
        }
      })(),
    );
    expect(empty.rawMessage).toContain("channels[0]: a channel is required");
  });
});
