import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type Task, TaskState } from "../../../gen/noizylab/agent/v1/task_pb.js";
import { stateChangeEvent } from "../../engine/task-events.js";
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
