import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskResultSchema, TaskSchema, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { progressEvent, resultEvent, stateChangeEvent } from "../engine/task-events.js";
import { uuidV7 } from "../lib/uuid-v7.js";
import type { NewTask, Store } from "./store.js";

/** newTask is a queued echo task with its first event, as the engine makes them. */
export function newTask(
  overrides: { priority?: number; idempotencyKey?: string; createdAtMs?: number } = {},
): NewTask {
  const id = uuidV7();
  const task = create(TaskSchema, {
    id,
    type: "echo",
    spec: { task: { case: "echo", value: { text: id } } },
    state: TaskState.QUEUED,
    priority: overrides.priority ?? 50,
    idempotencyKey: overrides.idempotencyKey ?? "",
    timeoutMs: 1_000,
    createdAt: timestampFromMs(overrides.createdAtMs ?? Date.now()),
    lastSequence: 1n,
  });
  const event = stateChangeEvent(id, TaskState.QUEUED, 0);
  event.sequence = 1n;
  return { task, event };
}

const running = (task: { id: string; attempts: number }) =>
  stateChangeEvent(task.id, TaskState.RUNNING, task.attempts + 1);

/**
 * describeStoreContract is the behaviour every Store engine must show; each engine's test
 * file runs it against a real database.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`${name} store contract`, () => {
    it("commits a task with its first event and reads both back", async () => {
      const store = await open();
      const item = newTask();
      const [inserted] = await store.insertTasks([item]);
      expect(inserted?.created).toBe(true);
      const read = await store.getTask(item.task.id);
      expect(read?.spec?.task).toEqual(item.task.spec?.task);
      expect(read?.state).toBe(TaskState.QUEUED);
      expect((await store.listEvents(item.task.id, 0n)).map((e) => e.sequence)).toEqual([1n]);
      expect(await store.getTask(uuidV7())).toBeUndefined();
      await store.close();
    });

    it("returns the existing task for a repeated idempotency key, even within one batch", async () => {
      const store = await open();
      const first = newTask({ idempotencyKey: "order-1" });
      const [a] = await store.insertTasks([first]);
      const [b, c] = await store.insertTasks([
        newTask({ idempotencyKey: "order-1" }),
        newTask({ idempotencyKey: "order-1" }),
      ]);
      expect(a?.created).toBe(true);
      expect(b).toMatchObject({ created: false, task: { id: first.task.id } });
      expect(c).toMatchObject({ created: false, task: { id: first.task.id } });
      await store.close();
    });

    it("claims by priority, then oldest first, and never the same task twice", async () => {
      const store = await open();
      const low = newTask({ priority: 10 });
      const highOld = newTask({ priority: 90 });
      const highNew = newTask({ priority: 90 });
      await store.insertTasks([low, highOld, highNew]);
      const order = [];
      for (let i = 0; i < 4; i++) order.push((await store.claimNextTask(running))?.task.id);
      expect(order).toEqual([highOld.task.id, highNew.task.id, low.task.id, undefined]);
      const claimed = await store.getTask(low.task.id);
      expect(claimed).toMatchObject({ state: TaskState.RUNNING, attempts: 1, lastSequence: 2n });
      expect(claimed?.startedAt).toBeDefined();
      await store.close();
    });

    it("numbers events without gaps and applies them only in the expected states", async () => {
      const store = await open();
      const item = newTask();
      await store.insertTasks([item]);
      await store.claimNextTask(running);
      const id = item.task.id;
      const progress = await store.appendEvent(progressEvent(id, 50, "half"), [TaskState.RUNNING]);
      expect(progress?.event.sequence).toBe(3n);
      expect(progress?.task).toMatchObject({ progress: 50, progressNote: "half" });
      const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
      const done = await store.appendEvent(resultEvent(id, result), [TaskState.RUNNING]);
      expect(done?.task.state).toBe(TaskState.SUCCEEDED);
      expect(done?.task.finishedAt).toBeDefined();
      expect((await store.getTask(id))?.result).toEqual(result);
      expect(await store.countTasks(TaskState.SUCCEEDED)).toBe(1);
      expect(await store.countTasks(TaskState.RUNNING)).toBe(0);
      expect(await store.countUnfinishedTasks("")).toBe(0);
      expect(
        await store.appendEvent(progressEvent(id, 60, "late"), [TaskState.RUNNING]),
      ).toBeUndefined();
      const events = await store.listEvents(id, 1n);
      expect(events.map((e) => e.sequence)).toEqual([2n, 3n, 4n]);
      expect(events.map((e) => e.kind.case)).toEqual(["stateChange", "progress", "result"]);
      await store.close();
    });

    it("lists newest first with filters and a cursor", async () => {
      const store = await open();
      const items = [
        newTask({ createdAtMs: 1_000 }),
        newTask({ createdAtMs: 2_000 }),
        newTask({ createdAtMs: 3_000 }),
      ];
      await store.insertTasks(items);
      await store.claimNextTask(running);
      const all = await store.listTasks({ states: [], types: [], limit: 10 });
      expect(all.map((t) => t.id)).toEqual(items.map((i) => i.task.id).reverse());
      const queued = await store.listTasks({
        states: [TaskState.QUEUED],
        types: ["echo"],
        limit: 10,
      });
      expect(queued).toHaveLength(2);
      const page = await store.listTasks({
        states: [],
        types: [],
        beforeId: items[2]?.task.id,
        limit: 1,
      });
      expect(page.map((t) => t.id)).toEqual([items[1]?.task.id]);
      const window = await store.listTasks({
        states: [],
        types: [],
        createdAfter: 1_500,
        createdBefore: 3_000,
        limit: 10,
      });
      expect(window.map((t) => t.id)).toEqual([items[1]?.task.id]);
      expect(await store.listTasks({ states: [], types: ["delay"], limit: 10 })).toEqual([]);
      expect(await store.listTaskIds(TaskState.RUNNING)).toEqual([items[0]?.task.id]);
      expect(await store.countTasks(TaskState.QUEUED)).toBe(2);
      expect(await store.countUnfinishedTasks("")).toBe(3);
      expect(await store.countUnfinishedTasks("someone")).toBe(0);
      await store.close();
    });
  });
}
