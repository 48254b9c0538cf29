import { rmSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { EchoResultSchema } from "../../gen/noizylab/agent/v1/echo_pb.js";
import {
  type Task,
  type TaskEvent,
  type TaskSpec,
  TaskSpecSchema,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { InsertedTask, Store } from "../store/store.js";
import { newTask, unlimitedShares } from "../store/store-contract.js";
import { echoTask } from "../tasks/echo.js";
import { builtinTasks, createTaskRegistry } from "../tasks/registry.js";
import type { AnyTaskHandler, TaskHandler } from "../tasks/task-handler.js";
import { tempDir } from "../test-support.js";
import { createEngine, type Engine, type EngineLimits } from "./engine.js";
import { createDurationStats, routeSpec } from "./routing.js";
import { stateChangeEvent } from "./task-events.js";

const dir = tempDir();
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const limits: EngineLimits = {
  maxConcurrentTasks: 4,
  maxRunningTasksPerKey: 4,
  defaultTimeoutMs: 10_000,
  maxTimeoutMs: 60_000,
  maxOutputBytes: 1024 * 1024,
  maxAttempts: 3,
  maxTasksPerKey: 1_000,
  maxQueuedTasks: 10_000,
  streamIdleTimeoutMs: 60_000,
  // Longer than any test: no heartbeat runs, which the lease tests do themselves.
  leaseMs: 3_600_000,
};

async function startEngine(
  options: Partial<EngineLimits> & {
    handlers?: readonly AnyTaskHandler[];
    path?: string;
    /** What the engine is given instead of the store: the store, with some calls noted. */
    noting?: (store: Store) => Store;
  } = {},
): Promise<{ engine: Engine; store: Store; path: string }> {
  const path = options.path ?? join(dir, `engine-${files++}.db`);
  const store = createSqliteStore({ path });
  const engine = createEngine({
    ...limits,
    ...options,
    store: options.noting?.(store) ?? store,
    instanceId: "engine-test",
    registry: createTaskRegistry(options.handlers ?? builtinTasks),
    onError: (error) => {
      throw error;
    },
  });
  await engine.start();
  return { engine, store, path };
}

const echo = (text: string): TaskSpec =>
  create(TaskSpecSchema, { task: { case: "echo", value: { text } } });
const delay = (durationMs: number, steps = 1): TaskSpec =>
  create(TaskSpecSchema, { task: { case: "delay", value: { durationMs, steps } } });

async function collect(events: AsyncIterable<TaskEvent>, until?: (e: TaskEvent) => boolean) {
  const seen: TaskEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (until?.(event)) break;
  }
  return seen;
}

async function finished(engine: Engine, taskId: string) {
  await collect(engine.watchTask(taskId, 0n, new AbortController().signal));
  return engine.getTask(taskId);
}

/** A handler for "echo" that waits until released, so tests decide when tasks end. */
function gatedEcho() {
  const started: string[] = [];
  const gates: (() => void)[] = [];
  const handler: TaskHandler<"echo"> = {
    ...echoTask,
    // It waits for the test: it cannot run as it is submitted.
    pure: false,
    async run(input) {
      started.push(input.text);
      await new Promise<void>((resolve) => gates.push(resolve));
      return create(EchoResultSchema, { text: input.text });
    },
  };
  const releaseAll = () => {
    for (const release of gates.splice(0)) release();
  };
  return { handler, started, releaseAll };
}

describe("engine", () => {
  it("runs a task and records queued, running and the result, numbered from 1", async () => {
    const { engine } = await startEngine();
    const { task, created } = await engine.submit({
      spec: delay(30, 3),
      idempotencyKey: "",
      timeoutMs: 0,
    });
    expect(created).toBe(true);
    const events = await collect(engine.watchTask(task.id, 0n, new AbortController().signal));
    expect(events.map((e) => e.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(events.map((e) => e.kind.case)).toEqual([
      "stateChange",
      "stateChange",
      "progress",
      "progress",
      "progress",
      "result",
    ]);
    const done = await engine.getTask(task.id);
    expect(done).toMatchObject({
      state: TaskState.SUCCEEDED,
      attempts: 1,
      progress: 100,
      timeoutMs: 10_000,
    });
    expect(done.result?.result.case).toBe("delay");
  });

  it("runs a task from before its commit: streams every event, reads none back", async () => {
    const reads: string[] = [];
    const { engine } = await startEngine({
      noting: (store) => ({
        ...store,
        getTaskWithEvents(taskId, afterSequence) {
          reads.push(taskId);
          return store.getTaskWithEvents(taskId, afterSequence);
        },
        listEvents(taskId, afterSequence) {
          reads.push(taskId);
          return store.listEvents(taskId, afterSequence);
        },
      }),
    });
    const signal = new AbortController().signal;
    const events = await collect(
      engine.run({ spec: delay(30, 3), idempotencyKey: "", timeoutMs: 0 }, signal),
    );
    expect(events.map((e) => e.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(events.at(-1)?.kind.case).toBe("result");
    expect(reads).toEqual([]);
    // With an idempotency key, a run follows the task the key names: the first one's.
    const keyed = { spec: echo("once"), idempotencyKey: "run-once", timeoutMs: 0 };
    const first = await collect(engine.run(keyed, signal));
    const again = await collect(engine.run(keyed, signal));
    expect(first.at(-1)?.state).toBe(TaskState.SUCCEEDED);
    expect(again).toEqual(first);
  });

  it("runs a pure task as it is submitted: answers it finished, with all its events", async () => {
    let claims = 0;
    const { engine } = await startEngine({
      noting: (store) => ({
        ...store,
        claimTasks(limit, start, lease, shares) {
          claims++;
          return store.claimTasks(limit, start, lease, shares);
        },
      }),
    });
    // Started, it looks for queued tasks once.
    await expect.poll(() => claims).toBe(1);
    const published: TaskEvent[] = [];
    engine.onEvent((event) => published.push(event));
    const { task } = await engine.submit({ spec: echo("now"), idempotencyKey: "", timeoutMs: 0 });
    expect(task).toMatchObject({ state: TaskState.SUCCEEDED, attempts: 1, lastSequence: 3n });
    expect(task.result?.result).toEqual({
      case: "echo",
      value: expect.objectContaining({ text: "now" }),
    });
    expect(published.map((e) => [e.sequence, e.state])).toEqual([
      [1n, TaskState.QUEUED],
      [2n, TaskState.RUNNING],
      [3n, TaskState.SUCCEEDED],
    ]);
    const signal = new AbortController().signal;
    expect(await collect(engine.watchTask(task.id, 0n, signal))).toEqual(published);
    expect(await engine.getTask(task.id)).toEqual(task);
    const streamed = await collect(
      engine.run({ spec: echo("streamed"), idempotencyKey: "", timeoutMs: 0 }, signal),
    );
    expect(streamed.map((e) => e.state)).toEqual([
      TaskState.QUEUED,
      TaskState.RUNNING,
      TaskState.SUCCEEDED,
    ]);
    expect(claims).toBe(1);
  });

  it("queues a pure task behind waiting ones, and runs it beside slow ones filling the slots", async () => {
    const path = join(dir, `backlog-${files++}.db`);
    const before = createSqliteStore({ path });
    const waiting = newTask();
    await before.insertTasks([waiting]);
    await before.close();
    const { engine } = await startEngine({ path, maxConcurrentTasks: 1 });
    const submit = (spec: TaskSpec) =>
      engine.submit({ spec, priority: waiting.task.priority, idempotencyKey: "", timeoutMs: 0 });
    // Just started, the engine has yet to claim the task queued before: that one goes first.
    const behind = await submit(echo("behind"));
    expect(behind.task.state).toBe(TaskState.QUEUED);
    const [first, second] = [
      await finished(engine, waiting.task.id),
      await finished(engine, behind.task.id),
    ];
    expect(timestampMs(first.startedAt as Timestamp)).toBeLessThanOrEqual(
      timestampMs(second.startedAt as Timestamp),
    );
    // The one slot is taken and none waits: a pure task does not wait for the slot.
    const long = await submit(delay(60_000));
    await expect.poll(() => engine.runningCount).toBe(1);
    expect((await submit(echo("beside"))).task.state).toBe(TaskState.SUCCEEDED);
    // A task that needs a slot waits for it, and a pure one behind it too.
    const next = await submit(delay(1));
    expect(next.task.state).toBe(TaskState.QUEUED);
    const after = await submit(echo("after"));
    expect(after.task.state).toBe(TaskState.QUEUED);
    await engine.cancelTask(long.task.id, "");
    expect((await finished(engine, after.task.id)).state).toBe(TaskState.SUCCEEDED);
  });

  it("fails a pure task that reports progress or runs past its deadline", async () => {
    const reporting: TaskHandler<"echo"> = {
      ...echoTask,
      async run(input, context) {
        context.progress(50);
        return create(EchoResultSchema, { text: input.text });
      },
    };
    const { engine } = await startEngine({ handlers: [reporting] });
    const reported = await engine.submit({ spec: echo("x"), idempotencyKey: "", timeoutMs: 0 });
    expect(reported.task).toMatchObject({
      state: TaskState.FAILED,
      error: { code: "internal", message: "echo is declared pure, and reports progress" },
    });
    const slow: TaskHandler<"echo"> = {
      ...echoTask,
      async run(input) {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return create(EchoResultSchema, { text: input.text });
      },
    };
    const { engine: late } = await startEngine({ handlers: [slow] });
    const past = await late.submit({ spec: echo("x"), idempotencyKey: "", timeoutMs: 10 });
    expect(past.task).toMatchObject({
      state: TaskState.FAILED,
      error: { code: "deadline_exceeded", message: "task ran past its 10 ms deadline" },
    });
  });

  it("starts higher priorities first and never runs more than the concurrency limit", async () => {
    const gate = gatedEcho();
    const { engine, store } = await startEngine({
      maxConcurrentTasks: 2,
      handlers: [gate.handler],
    });
    const submit = (text: string, priority: number) =>
      engine.submit({ spec: echo(text), priority, idempotencyKey: "", timeoutMs: 0 });
    await submit("first", 50);
    await submit("second", 50);
    const low = await submit("low", 10);
    const high = await submit("high", 90);
    await expect.poll(() => gate.started.length).toBe(2);
    expect(engine.runningCount).toBe(2);
    const queued = await store.listTasks({ states: [TaskState.QUEUED], types: [], limit: 10 });
    expect(queued.map((t) => t.id).reverse()).toEqual([low.task.id, high.task.id]);
    gate.releaseAll();
    await expect.poll(() => gate.started.length).toBe(4);
    expect(gate.started.slice(2)).toEqual(["high", "low"]);
    gate.releaseAll();
    expect((await finished(engine, low.task.id)).state).toBe(TaskState.SUCCEEDED);
  });

  it("claims the successors of tasks that finish together in one claim", async () => {
    const gate = gatedEcho();
    const claims: number[] = [];
    const { engine } = await startEngine({
      maxConcurrentTasks: 4,
      handlers: [gate.handler],
      noting: (store) => ({
        ...store,
        claimTasks(limit, start, lease, shares) {
          claims.push(limit);
          return store.claimTasks(limit, start, lease, shares);
        },
      }),
    });
    const inputs = Array.from({ length: 8 }, (_, i) => ({
      spec: echo(`task ${i}`),
      idempotencyKey: "",
      timeoutMs: 0,
    }));
    const submitted = (await engine.submitBatch(inputs)) as InsertedTask[];
    await expect.poll(() => gate.started.length).toBe(4);
    const claimedBefore = claims.length;
    gate.releaseAll();
    await expect.poll(() => gate.started.length).toBe(8);
    // The four finished in one turn: the four slots they freed were filled by one claim.
    expect(claims.slice(claimedBefore)).toEqual([4]);
    gate.releaseAll();
    for (const { task } of submitted) {
      expect((await finished(engine, task.id)).state).toBe(TaskState.SUCCEEDED);
    }
  });

  it("fails a task that runs past its deadline with deadline_exceeded", async () => {
    const { engine } = await startEngine();
    const { task } = await engine.submit({
      spec: delay(30_000),
      idempotencyKey: "",
      timeoutMs: 50,
    });
    const done = await finished(engine, task.id);
    expect(done.state).toBe(TaskState.FAILED);
    expect(done.error).toMatchObject({ code: "deadline_exceeded" });
    // The handler honours its aborted signal, which frees the slot.
    await expect.poll(() => engine.runningCount).toBe(0);
  });

  it("cancels a running delay: its handler stops and its slot is freed", async () => {
    const { engine } = await startEngine({ maxConcurrentTasks: 1 });
    const { task } = await engine.submit({
      spec: delay(60_000, 600),
      idempotencyKey: "",
      timeoutMs: 0,
    });
    const next = await engine.submit({ spec: echo("next"), idempotencyKey: "", timeoutMs: 0 });
    await collect(
      engine.watchTask(task.id, 0n, new AbortController().signal),
      (e) => e.kind.case === "progress",
    );
    const cancelled = await engine.cancelTask(task.id, "changed my mind");
    expect(cancelled).toMatchObject({
      state: TaskState.CANCELLED,
      error: { code: "canceled", message: "changed my mind" },
    });
    expect((await finished(engine, next.task.id)).state).toBe(TaskState.SUCCEEDED);
    expect((await engine.getTask(task.id)).state).toBe(TaskState.CANCELLED);
  });

  it("cancels a queued task, and refuses to cancel a finished or unknown one", async () => {
    const gate = gatedEcho();
    const { engine } = await startEngine({ maxConcurrentTasks: 1, handlers: [gate.handler] });
    const running = await engine.submit({ spec: echo("a"), idempotencyKey: "", timeoutMs: 0 });
    const queued = await engine.submit({ spec: echo("b"), idempotencyKey: "", timeoutMs: 0 });
    expect((await engine.cancelTask(queued.task.id, "")).state).toBe(TaskState.CANCELLED);
    gate.releaseAll();
    await finished(engine, running.task.id);
    await expect(engine.cancelTask(running.task.id, "")).rejects.toMatchObject({
      code: Code.FailedPrecondition,
      rawMessage: expect.stringContaining("already finished (succeeded)"),
    });
    await expect(
      engine.cancelTask("01a2b3c4-0000-7000-8000-000000000000", ""),
    ).rejects.toMatchObject({
      code: Code.NotFound,
    });
    expect(gate.started).toEqual(["a"]);
  });

  it("gives every racing submit with one idempotency key the same single task", async () => {
    const { engine, store } = await startEngine();
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        engine.submit({ spec: echo("once"), idempotencyKey: "k-1", timeoutMs: 0 }),
      ),
    );
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.task.id)).size).toBe(1);
    expect(await store.listTasks({ states: [], types: [], limit: 100 })).toHaveLength(1);
  });

  it("resumes a watch after a disconnect with no gap and no repeat", async () => {
    const { engine } = await startEngine();
    const { task } = await engine.submit({
      spec: delay(100, 10),
      idempotencyKey: "",
      timeoutMs: 0,
    });
    const disconnect = new AbortController();
    const firstPart = await collect(
      engine.watchTask(task.id, 0n, disconnect.signal),
      (e) => e.sequence === 4n,
    );
    disconnect.abort();
    const last = firstPart.at(-1)?.sequence ?? 0n;
    const rest = await collect(engine.watchTask(task.id, last, new AbortController().signal));
    const sequences = [...firstPart, ...rest].map((e) => e.sequence);
    expect(sequences).toEqual(Array.from({ length: 13 }, (_, i) => BigInt(i + 1)));
    expect(rest.at(-1)?.state).toBe(TaskState.SUCCEEDED);
    // Watching a finished task from its last event returns at once, with nothing.
    expect(await collect(engine.watchTask(task.id, 13n, new AbortController().signal))).toEqual([]);
  });

  it("stops a watch when its caller goes away", async () => {
    const { engine } = await startEngine();
    const { task } = await engine.submit({ spec: delay(60_000), idempotencyKey: "", timeoutMs: 0 });
    const leave = new AbortController();
    const watching = collect(engine.watchTask(task.id, 2n, leave.signal));
    leave.abort();
    expect(await watching).toEqual([]);
    await engine.cancelTask(task.id, "");
  });

  it("fails a task whose result is larger than the message limit", async () => {
    const { engine } = await startEngine({ maxOutputBytes: 1_000 });
    const { task } = await engine.submit({
      spec: echo("x".repeat(2_000)),
      idempotencyKey: "",
      timeoutMs: 0,
    });
    expect((await finished(engine, task.id)).error?.code).toBe("resource_exhausted");
  });

  it("rejects bad submits with InvalidArgument naming the field", async () => {
    const { engine } = await startEngine();
    const bad = [
      [{ spec: undefined }, "spec: a task is required"],
      [{ spec: echo("x"), priority: 101 }, "priority: must be between 0 and 100"],
      [{ spec: echo("x"), timeoutMs: 60_001 }, "timeout_ms: must be between 0 and 60000"],
      [
        { spec: echo("x"), idempotencyKey: "k".repeat(257) },
        "idempotency_key: must be at most 256",
      ],
      [{ spec: delay(3_600_001) }, "spec.delay.duration_ms"],
    ] as const;
    for (const [input, message] of bad) {
      const submit = engine.submit({ idempotencyKey: "", timeoutMs: 0, ...input });
      await expect(submit).rejects.toBeInstanceOf(ConnectError);
      await expect(submit).rejects.toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: expect.stringContaining(message),
      });
    }
  });

  it("drains at shutdown: running tasks past the grace period go back to the queue", async () => {
    const { engine, store, path } = await startEngine({ maxConcurrentTasks: 1 });
    const quick = await engine.submit({ spec: delay(20), idempotencyKey: "", timeoutMs: 0 });
    expect((await finished(engine, quick.task.id)).state).toBe(TaskState.SUCCEEDED);
    const slow = await engine.submit({
      spec: delay(60_000, 600),
      idempotencyKey: "",
      timeoutMs: 0,
    });
    await expect
      .poll(async () => (await engine.getTask(slow.task.id)).state)
      .toBe(TaskState.RUNNING);
    // Queued behind it once it holds the one slot.
    const waiting = await engine.submit({ spec: delay(1), idempotencyKey: "", timeoutMs: 0 });
    await engine.drain(50);
    expect((await engine.getTask(slow.task.id)).state).toBe(TaskState.QUEUED);
    expect((await engine.getTask(waiting.task.id)).state).toBe(TaskState.QUEUED);
    await store.close();
    // The next start runs both.
    const { engine: next } = await startEngine({ path, maxConcurrentTasks: 2 });
    expect((await finished(next, waiting.task.id)).state).toBe(TaskState.SUCCEEDED);
    await next.cancelTask(slow.task.id, "");
  });

  it("requeues tasks left running by a crash, and fails those that crashed too often", async () => {
    const path = join(dir, `crash-${files++}.db`);
    const crashed = createSqliteStore({ path });
    const again = newTask();
    const poison = newTask();
    poison.task.attempts = 2;
    await crashed.insertTasks([again, poison]);
    // Claimed, as by a process that then died before finishing them: alone on its SQLite
    // file, the next start takes them over although their leases have not expired.
    const start = (task: Task) => stateChangeEvent(task.id, TaskState.RUNNING, task.attempts + 1);
    const lease = { owner: "dead", expiresAt: Date.now() + 60_000 };
    await crashed.claimTasks(2, start, lease, unlimitedShares);
    await crashed.close();

    const { engine } = await startEngine({ path });
    const recovered = await finished(engine, again.task.id);
    expect(recovered).toMatchObject({ state: TaskState.SUCCEEDED, attempts: 2 });
    const events = await collect(engine.watchTask(again.task.id, 0n, new AbortController().signal));
    expect(
      events.some(
        (e) => e.kind.case === "stateChange" && e.kind.value.reason === "requeued after restart",
      ),
    ).toBe(true);
    expect((await engine.getTask(poison.task.id)).error?.code).toBe("aborted");
  });

  it("gives a submit without a priority the routing scorer's: quick work first", async () => {
    const { engine } = await startEngine();
    const quick = await engine.submit({ spec: echo("hi"), idempotencyKey: "", timeoutMs: 0 });
    const slow = await engine.submit({ spec: delay(30_000), idempotencyKey: "", timeoutMs: 0 });
    const chosen = await engine.submit({
      spec: echo("mine"),
      priority: 5,
      idempotencyKey: "",
      timeoutMs: 0,
    });
    expect(quick.task.priority).toBeGreaterThan(slow.task.priority);
    expect(quick.task.priority).toBe(routeSpec(echo("hi"), createDurationStats()).priority);
    expect(slow.task.priority).toBe(routeSpec(delay(30_000), createDurationStats()).priority);
    expect(chosen.task.priority).toBe(5);
    await engine.cancelTask(slow.task.id, "");
  });

  it("caps a key's unfinished tasks and the whole queue", async () => {
    const gate = gatedEcho();
    const { engine } = await startEngine({
      handlers: [gate.handler],
      maxConcurrentTasks: 1,
      maxTasksPerKey: 2,
      maxQueuedTasks: 3,
    });
    const submit = (keyId: string) =>
      engine.submit({ spec: echo(keyId), idempotencyKey: "", timeoutMs: 0, keyId });
    await submit("a");
    await submit("a");
    await expect(submit("a")).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: "API key a has 2 unfinished tasks; it may have at most 2",
    });
    await submit("b");
    await submit("c");
    await expect(submit("d")).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringContaining("the queue is full"),
    });
    gate.releaseAll();
    await expect.poll(() => gate.started.length).toBeGreaterThan(1);
    gate.releaseAll();
  });

  it("ends a watch that stays idle too long with DeadlineExceeded, naming where to resume", async () => {
    const { engine } = await startEngine({ streamIdleTimeoutMs: 50 });
    const { task } = await engine.submit({ spec: delay(60_000), idempotencyKey: "", timeoutMs: 0 });
    const watching = collect(engine.watchTask(task.id, 0n, new AbortController().signal));
    await expect(watching).rejects.toMatchObject({
      code: Code.DeadlineExceeded,
      rawMessage: expect.stringMatching(/watch again after sequence [12] to go on/),
    });
    await engine.cancelTask(task.id, "");
  });
});
