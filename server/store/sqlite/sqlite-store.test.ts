import { rmSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type Task, TaskState } from "../../../gen/noizylab/agent/v1/task_pb.js";
import { firstEvent, progressEvent, stateChangeEvent } from "../../engine/task-events.js";
import { uuidV7 } from "../../lib/uuid-v7.js";
import { tempDir } from "../../test-support.js";
import { describeStoreContract, newTask } from "../store-contract.js";
import { rowFromTask, taskColumns } from "../task-rows.js";
import { migrations } from "./migrations.js";
import { createSqliteStore } from "./sqlite-store.js";

const dir = tempDir();
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreContract("SQLite", async () =>
  createSqliteStore({ path: join(dir, `store-${files++}.db`) }),
);

describe("SQLite store", () => {
  it("keeps committed tasks across a reopen, in WAL mode, and migrates only once", async () => {
    const path = join(dir, "reopen.db");
    const first = createSqliteStore({ path });
    const item = newTask();
    await first.insertTasks([item]);
    await first.close();
    const second = createSqliteStore({ path });
    expect((await second.getTask(item.task.id))?.id).toBe(item.task.id);
    await second.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get()).toEqual({
      n: migrations.length,
    });
    db.close();
  });

  it("reads a first event as the engine makes it back from the task's row, and stores any other", async () => {
    const path = join(dir, "first-events.db");
    const store = createSqliteStore({ path });
    const plain = newTask();
    const said = newTask();
    const reason = stateChangeEvent(said.task.id, TaskState.QUEUED, 0, "imported");
    reason.sequence = 1n;
    reason.time = said.event.time;
    const late = newTask();
    const other = firstEvent(late.task.id, timestampFromMs(Date.now() + 5_000));
    await store.insertTasks([plain, { ...said, event: reason }, { ...late, event: other }]);
    await store.appendEvent(
      progressEvent(plain.task.id, 10, "going"),
      [TaskState.QUEUED],
      undefined,
      plain.task,
    );
    expect(await store.listEvents(plain.task.id, 0n)).toEqual([
      plain.event,
      expect.objectContaining({ sequence: 2n }),
    ]);
    expect((await store.getTaskWithEvents(plain.task.id, 0n))?.events[0]).toEqual(plain.event);
    expect((await store.listEvents(plain.task.id, 1n)).map((e) => e.sequence)).toEqual([2n]);
    expect(await store.listEvents(said.task.id, 0n)).toEqual([reason]);
    expect(await store.listEvents(late.task.id, 0n)).toEqual([other]);
    expect(await store.listEvents(uuidV7(), 0n)).toEqual([]);
    await store.close();
    const db = new Database(path, { readonly: true });
    const stored = db.prepare("SELECT task_id, sequence FROM task_events ORDER BY task_id").all();
    expect(stored).toEqual([
      { task_id: plain.task.id, sequence: 2 },
      { task_id: said.task.id, sequence: 1 },
      { task_id: late.task.id, sequence: 1 },
    ]);
    db.close();
  });

  it("counts the tasks in each state from the file at open, and each write it commits", async () => {
    const path = join(dir, "counts.db");
    await createSqliteStore({ path }).close();
    // Tasks already in the file when it opens, written behind the store's back.
    const before = new Database(path);
    const insert = before.prepare(
      `INSERT INTO tasks (${taskColumns.join(", ")}) VALUES (${taskColumns.map((c) => `@${c}`).join(", ")})`,
    );
    const written = [newTask(), newTask(), newTask()].map((item) => ({
      ...item,
      task: { ...item.task, keyId: "k1" },
    }));
    const mine = written.map(({ task }) => task);
    for (const { task, spec } of written) insert.run(rowFromTask(task, spec));
    before.prepare("UPDATE tasks SET state = ? WHERE id = ?").run(TaskState.SUCCEEDED, mine[0]?.id);
    before.close();

    const store = createSqliteStore({ path });
    expect(await store.countBacklog("k1")).toEqual({ queued: 2, unfinishedOfKey: 2 });
    expect(await store.countTasks(TaskState.SUCCEEDED)).toBe(1);
    // A failing write is rolled back alone, and counts for nothing; its neighbours in the
    // transaction run twice (see createWriteBatcher), and count once.
    const outcomes = await Promise.allSettled([
      store.insertTasks([newTask()]),
      // A task of the same id as one in the file: its insert fails.
      store.insertTasks([{ ...newTask(), task: mine[1] as Task }]),
      store.claimTasks(1, (task) => stateChangeEvent(task.id, TaskState.RUNNING, 1), {
        owner: "me",
        expiresAt: Date.now() + 60_000,
      }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    // The claim took k1's oldest queued task.
    expect(await store.countBacklog("k1")).toEqual({ queued: 2, unfinishedOfKey: 2 });
    expect(await store.countBacklog("")).toEqual({ queued: 2, unfinishedOfKey: 1 });
    expect(await store.countTasks(TaskState.RUNNING)).toBe(1);
    await store.close();
    const reopened = createSqliteStore({ path });
    expect(await reopened.countBacklog("k1")).toEqual({ queued: 2, unfinishedOfKey: 2 });
    expect(await reopened.countTasks(TaskState.RUNNING)).toBe(1);
    await reopened.close();
  });
});
