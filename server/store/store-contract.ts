import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  TaskErrorSchema,
  type TaskEvent,
  TaskResultSchema,
  TaskSchema,
  type TaskSpec,
  TaskSpecSchema,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import {
  errorEvent,
  firstEvent,
  progressEvent,
  resultEvent,
  stateChangeEvent,
} from "../engine/task-events.js";
import { uuidV7 } from "../lib/uuid-v7.js";
import type { ClaimShares } from "./claim-turns.js";
import { describeDoorStoresContract } from "./door-stores-contract.js";
import type { NewTask, Store } from "./store.js";

/** newTask is a queued echo task with its first event, as the engine makes them. */
export function newTask(
  overrides: {
    priority?: number;
    idempotencyKey?: string;
    createdAtMs?: number;
    keyId?: string;
  } = {},
): NewTask {
  const id = uuidV7();
  const createdAt = timestampFromMs(overrides.createdAtMs ?? Date.now());
  const task = create(TaskSchema, {
    id,
    type: "echo",
    spec: { task: { case: "echo", value: { text: id } } },
    state: TaskState.QUEUED,
    priority: overrides.priority ?? 50,
    idempotencyKey: overrides.idempotencyKey ?? "",
    keyId: overrides.keyId ?? "",
    timeoutMs: 1_000,
    createdAt,
    lastSequence: 1n,
  });
  const event = firstEvent(id, createdAt);
  return { task, spec: toBinary(TaskSpecSchema, task.spec as TaskSpec), event };
}

/** unlimitedShares are claim shares that let one key take every slot. */
export const unlimitedShares: ClaimShares = {
  maxRunningPerKey: Number.POSITIVE_INFINITY,
  runningOfKey: new Map(),
};

const running = (task: { id: string; attempts: number }) =>
  stateChangeEvent(task.id, TaskState.RUNNING, task.attempts + 1);
const lease = (owner = "instance-a", forMs = 60_000) => ({
  owner,
  expiresAt: Date.now() + forMs,
});

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
      const withEvents = await store.getTaskWithEvents(item.task.id, 0n);
      expect(withEvents?.task.id).toBe(item.task.id);
      expect(withEvents?.events.map((e) => e.sequence)).toEqual([1n]);
      expect(await store.getTaskWithEvents(item.task.id, 1n)).toMatchObject({ events: [] });
      expect(await store.getTaskWithEvents(uuidV7(), 0n)).toBeUndefined();
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

    it("scopes idempotency keys to the API key that submitted the task", async () => {
      const store = await open();
      const [a, b, again] = await store.insertTasks([
        newTask({ idempotencyKey: "invoice-42", keyId: "aaaaaaaaaaaa" }),
        newTask({ idempotencyKey: "invoice-42", keyId: "bbbbbbbbbbbb" }),
        newTask({ idempotencyKey: "invoice-42", keyId: "bbbbbbbbbbbb" }),
      ]);
      expect(a).toMatchObject({ created: true, task: { keyId: "aaaaaaaaaaaa" } });
      expect(b).toMatchObject({ created: true, task: { keyId: "bbbbbbbbbbbb" } });
      expect(again).toMatchObject({ created: false, task: { id: b?.task.id } });
      // Each reads back with the idempotency key as its caller gave it.
      expect((await store.getTask(a?.task.id ?? ""))?.idempotencyKey).toBe("invoice-42");
      const mine = await store.listTasks({
        states: [],
        types: [],
        keyId: "bbbbbbbbbbbb",
        limit: 10,
      });
      expect(mine.map((task) => task.id)).toEqual([b?.task.id]);
      expect(mine[0]?.idempotencyKey).toBe("invoice-42");
      await store.close();
    });

    it("claims by priority, then oldest first, and never the same task twice", async () => {
      const store = await open();
      const low = newTask({ priority: 10 });
      const highOld = newTask({ priority: 90 });
      const highNew = newTask({ priority: 90 });
      await store.insertTasks([low, highOld, highNew]);
      const first = await store.claimTasks(1, running, lease(), unlimitedShares);
      const rest = await store.claimTasks(5, running, lease(), unlimitedShares);
      expect([...first, ...rest].map((c) => c.task.id)).toEqual([
        highOld.task.id,
        highNew.task.id,
        low.task.id,
      ]);
      expect(await store.claimTasks(5, running, lease(), unlimitedShares)).toEqual([]);
      const claimed = await store.getTask(low.task.id);
      expect(claimed).toMatchObject({ state: TaskState.RUNNING, attempts: 1, lastSequence: 2n });
      expect(claimed?.startedAt).toBeDefined();
      await store.close();
    });

    it("deals the slots in turn among keys, each key's own by priority, none past its cap", async () => {
      const store = await open();
      const of = (keyId: string, priority = 50) => newTask({ keyId, priority });
      const [a1, a2, a3] = [of("aaaa", 10), of("aaaa", 90), of("aaaa", 50)];
      const [b1, b2, b3] = [of("bbbb"), of("bbbb"), of("bbbb")];
      const c1 = of("cccc");
      await store.insertTasks([a1, a2, a3, b1, b2, b3, c1] as NewTask[]);
      const idsOf = (claimed: { task: { id: string } }[]) => claimed.map((c) => c.task.id);
      // "aaaa" runs one task already, and may run two: one more; the others one each in turn.
      const shares = { maxRunningPerKey: 2, runningOfKey: new Map([["aaaa", 1]]) };
      const first = await store.claimTasks(5, running, lease(), shares);
      expect(idsOf(first)).toEqual([a2, b1, c1, b2].map((item) => item?.task.id));
      // Turns go on after the key served last; a key at its cap is passed over.
      const next = await store.claimTasks(5, running, lease(), {
        maxRunningPerKey: 3,
        runningOfKey: new Map([
          ["aaaa", 2],
          ["bbbb", 3],
        ]),
        lastServed: "aaaa",
      });
      expect(idsOf(next)).toEqual([a3?.task.id]);
      await store.close();
    });

    it("claims as many as asked each time, whatever the sizes asked before", async () => {
      const store = await open();
      const items = Array.from({ length: 6 }, () => newTask());
      await store.insertTasks(items);
      const sizes: number[] = [];
      const ids: string[] = [];
      for (const limit of [2, 1, 2, 3]) {
        const claimed = await store.claimTasks(limit, running, lease(), unlimitedShares);
        sizes.push(claimed.length);
        ids.push(...claimed.map((c) => c.task.id));
      }
      expect(sizes).toEqual([2, 1, 2, 1]);
      expect(ids).toEqual(items.map((item) => item.task.id));
      await store.close();
    });

    it("numbers events without gaps and applies them only in the expected states", async () => {
      const store = await open();
      const item = newTask();
      await store.insertTasks([item]);
      await store.claimTasks(1, running, lease(), unlimitedShares);
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
      expect(await store.countBacklog("")).toEqual({
        queued: 0,
        unfinishedOfKey: 0,
        keyHasQueued: false,
      });
      expect(
        await store.appendEvent(progressEvent(id, 60, "late"), [TaskState.RUNNING]),
      ).toBeUndefined();
      const events = await store.listEvents(id, 1n);
      expect(events.map((e) => e.sequence)).toEqual([2n, 3n, 4n]);
      expect(events.map((e) => e.kind.case)).toEqual(["stateChange", "progress", "result"]);
      await store.close();
    });

    it("reads back each task's events as they were appended, whichever way it went", async () => {
      const store = await open();
      const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
      const failure = create(TaskErrorSchema, { code: "internal", message: "broke" });
      const requeue = (task: { id: string; attempts: number }) =>
        stateChangeEvent(task.id, TaskState.QUEUED, task.attempts, "taken over");
      /** go takes a new task down a path, one step after another; returns its events. */
      async function go(...steps: ((id: string) => Promise<(TaskEvent | undefined)[]>)[]) {
        const item = newTask();
        await store.insertTasks([item]);
        const events: (TaskEvent | undefined)[] = [item.event];
        for (const step of steps) events.push(...(await step(item.task.id)));
        return { id: item.task.id, events };
      }
      const claim =
        (forMs = 60_000) =>
        async () =>
          (await store.claimTasks(1, running, lease("a", forMs), unlimitedShares)).map(
            (claimed) => claimed.event,
          );
      const append = (make: (id: string) => TaskEvent, state: TaskState) => async (id: string) => [
        (await store.appendEvent(make(id), [state]))?.event,
      ];
      const succeed = append((id) => resultEvent(id, result), TaskState.RUNNING);
      const paths = [
        await go(claim(), succeed),
        await go(
          claim(),
          append((id) => errorEvent(id, TaskState.FAILED, failure), TaskState.RUNNING),
        ),
        await go(append((id) => errorEvent(id, TaskState.CANCELLED, failure), TaskState.QUEUED)),
        await go(
          claim(),
          append((id) => progressEvent(id, 50, "half"), TaskState.RUNNING),
          succeed,
        ),
        await go(
          claim(-1_000),
          async () => (await store.takeOverTasks(Date.now(), requeue)).map((taken) => taken.event),
          claim(),
          succeed,
        ),
        await go(claim()),
      ];
      for (const { id, events } of paths) {
        expect(events.map((event) => event?.sequence)).toEqual(events.map((_, i) => BigInt(i + 1)));
        for (let after = 0; after <= events.length; after++) {
          const later = events.slice(after);
          expect(await store.listEvents(id, BigInt(after))).toEqual(later);
          expect((await store.getTaskWithEvents(id, BigInt(after)))?.events).toEqual(later);
        }
      }
      await store.close();
    });

    it("commits a task that ran as it was submitted finished, with its three events", async () => {
      const store = await open();
      const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
      const failure = create(TaskErrorSchema, { code: "internal", message: "broke" });
      /** ran is a new task with the start and end of a run before its insert. */
      function ran(end: (id: string) => TaskEvent, idempotencyKey = "") {
        const item = newTask({ idempotencyKey });
        const start = running(item.task);
        return { ...item, ran: { start, end: end(item.task.id) } };
      }
      const succeeded = ran((id) => resultEvent(id, result), "ran-1");
      const failed = ran((id) => errorEvent(id, TaskState.FAILED, failure));
      // An end between milliseconds: more than a row keeps of it.
      const fine = ran((id) => {
        const event = resultEvent(id, result);
        if (event.time) event.time.nanos += 1_000;
        return event;
      });
      const inserted = await store.insertTasks([succeeded, failed, fine]);
      expect(inserted.map(({ created, task }) => [created, task.state, task.lastSequence])).toEqual(
        [
          [true, TaskState.SUCCEEDED, 3n],
          [true, TaskState.FAILED, 3n],
          [true, TaskState.SUCCEEDED, 3n],
        ],
      );
      for (const item of [succeeded, failed, fine]) {
        const events = [item.event, item.ran.start, item.ran.end];
        expect(events.map((event) => event.sequence)).toEqual([1n, 2n, 3n]);
        for (let after = 0; after <= events.length; after++) {
          expect(await store.listEvents(item.task.id, BigInt(after))).toEqual(events.slice(after));
        }
      }
      expect(await store.getTask(succeeded.task.id)).toMatchObject({
        state: TaskState.SUCCEEDED,
        attempts: 1,
        progress: 100,
        result,
      });
      expect((await store.getTask(failed.task.id))?.error).toEqual(failure);
      expect(await store.countTasks(TaskState.SUCCEEDED)).toBe(2);
      expect(await store.countBacklog("")).toEqual({
        queued: 0,
        unfinishedOfKey: 0,
        keyHasQueued: false,
      });
      expect(await store.claimTasks(5, running, lease(), unlimitedShares)).toEqual([]);
      // A task with the key already there is not inserted, whether or not it ran.
      const [again] = await store.insertTasks([ran((id) => resultEvent(id, result), "ran-1")]);
      expect(again).toMatchObject({ created: false, task: { id: succeeded.task.id } });
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
      await store.claimTasks(1, running, lease(), unlimitedShares);
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
      const claimed = await store.listTasks({ states: [TaskState.RUNNING], types: [], limit: 10 });
      expect(claimed.map((t) => t.id)).toEqual([items[0]?.task.id]);
      expect(await store.countTasks(TaskState.QUEUED)).toBe(2);
      expect(await store.countBacklog("")).toEqual({
        queued: 2,
        unfinishedOfKey: 3,
        keyHasQueued: true,
      });
      expect(await store.countBacklog("someone")).toEqual({
        queued: 2,
        unfinishedOfKey: 0,
        keyHasQueued: false,
      });
      await store.close();
    });

    it("never hands one task to two claims racing, and keeps the counts right", async () => {
      const store = await open();
      const items = Array.from({ length: 20 }, () => newTask());
      await store.insertTasks(items);
      const claims = await Promise.all(
        items.map((_, i) =>
          store.claimTasks(1 + (i % 2), running, lease(`instance-${i % 3}`), unlimitedShares),
        ),
      );
      const ids = claims.flat().map((claim) => claim.task.id);
      expect(ids).toHaveLength(items.length);
      expect(new Set(ids).size).toBe(items.length);
      expect(await store.countTasks(TaskState.RUNNING)).toBe(items.length);
      expect(await store.countTasks(TaskState.QUEUED)).toBe(0);
      await store.close();
    });

    it("applies a lease holder's events only while it holds the lease, and takes over expired leases", async () => {
      const store = await open();
      const [kept, lost] = [newTask({ priority: 90 }), newTask({ priority: 10 })];
      await store.insertTasks([kept, lost]);
      await store.claimTasks(1, running, lease("alive", 60_000), unlimitedShares);
      await store.claimTasks(1, running, lease("dead", -1_000), unlimitedShares);
      const id = lost.task.id;
      expect(
        await store.appendEvent(progressEvent(id, 10, ""), [TaskState.RUNNING], "someone-else"),
      ).toBeUndefined();
      const requeue = (task: { id: string; attempts: number }) =>
        stateChangeEvent(task.id, TaskState.QUEUED, task.attempts, "taken over");
      const taken = await store.takeOverTasks(Date.now(), requeue);
      expect(taken.map((t) => t.task.id)).toEqual([id]);
      expect(taken[0]?.task.state).toBe(TaskState.QUEUED);
      // The dead instance's late result no longer applies; the live one's still does.
      const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "" } } });
      expect(
        await store.appendEvent(resultEvent(id, result), [TaskState.RUNNING], "dead"),
      ).toBeUndefined();
      const [again] = await store.claimTasks(1, running, lease("alive", 60_000), unlimitedShares);
      expect(again?.task).toMatchObject({ id, attempts: 2 });
      // Renewed leases are not taken over; without renewal they would be by then.
      await store.renewLeases("alive", [id, kept.task.id], Date.now() + 120_000);
      expect(await store.takeOverTasks(Date.now() + 90_000, requeue)).toEqual([]);
      const done = await store.appendEvent(resultEvent(id, result), [TaskState.RUNNING], "alive");
      expect(done?.task.state).toBe(TaskState.SUCCEEDED);
      expect(await store.countTasks(TaskState.RUNNING)).toBe(1);
      await store.close();
    });

    describeDoorStoresContract(open);
  });
}
