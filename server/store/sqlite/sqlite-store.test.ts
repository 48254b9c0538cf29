import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type Task, TaskResultSchema, TaskState } from "../../../gen/noizylab/agent/v1/task_pb.js";
import {
  firstEvent,
  progressEvent,
  resultEvent,
  stateChangeEvent,
} from "../../engine/task-events.js";
import { uuidV7 } from "../../lib/uuid-v7.js";
import { tempDir } from "../../test-support.js";
import type { NewTask } from "../store.js";
import { describeStoreContract, newTask, unlimitedShares } from "../store-contract.js";
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

  it("keeps in a task's row the events it implies, and stores the others", async () => {
    const path = join(dir, "implied-events.db");
    const store = createSqliteStore({ path });
    const [done, progressed, said, late] = [newTask(), newTask(), newTask(), newTask()];
    const reason = stateChangeEvent(said.task.id, TaskState.QUEUED, 0, "imported");
    reason.sequence = 1n;
    reason.time = said.event.time;
    const other = firstEvent(late.task.id, timestampFromMs(Date.now() + 5_000));
    await store.insertTasks([
      done,
      progressed,
      { ...said, event: reason },
      { ...late, event: other },
    ]);
    const lease = { owner: "me", expiresAt: Date.now() + 60_000 };
    const claimed = await store.claimTasks(
      4,
      (task) => stateChangeEvent(task.id, TaskState.RUNNING, 1),
      lease,
      unlimitedShares,
    );
    const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
    for (const { task } of claimed) {
      if (task.id === progressed.task.id) {
        await store.appendEvent(
          progressEvent(task.id, 10, "going"),
          [TaskState.RUNNING],
          "me",
          task,
        );
      }
      await store.appendEvent(resultEvent(task.id, result), [TaskState.RUNNING], "me");
    }
    expect((await store.listEvents(done.task.id, 0n)).map((e) => e.kind.case)).toEqual([
      "stateChange",
      "stateChange",
      "result",
    ]);
    expect(await store.listEvents(said.task.id, 0n)).toEqual([
      reason,
      expect.anything(),
      expect.anything(),
    ]);
    expect((await store.listEvents(late.task.id, 0n))[0]).toEqual(other);
    expect(await store.listEvents(uuidV7(), 0n)).toEqual([]);
    await store.close();
    // The first event stays in the row; the start, written before a progress report, is
    // stored with it; a task whose first event is stored has all its events stored.
    const db = new Database(path, { readonly: true });
    const stored = db
      .prepare("SELECT task_id, sequence FROM task_events ORDER BY task_id, sequence")
      .raw()
      .all();
    // Task ids increase in the order the tasks were made (uuidV7), as ORDER BY reads them.
    expect(stored).toEqual([
      [progressed.task.id, 2],
      [progressed.task.id, 3],
      [progressed.task.id, 4],
      [said.task.id, 1],
      [said.task.id, 2],
      [said.task.id, 3],
      [late.task.id, 1],
      [late.task.id, 2],
      [late.task.id, 3],
    ]);
    db.close();
  });

  it("writes a task that ran as it was submitted in its row alone, unless its times are finer", async () => {
    const path = join(dir, "ran-at-submit.db");
    const store = createSqliteStore({ path });
    const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
    const ran = (item: NewTask) => ({
      ...item,
      ran: {
        start: stateChangeEvent(item.task.id, TaskState.RUNNING, 1),
        end: resultEvent(item.task.id, result),
      },
    });
    const [plain, fine] = [ran(newTask()), ran(newTask())];
    if (fine.ran.end.time) fine.ran.end.time.nanos += 1_000;
    await store.insertTasks([plain, fine]);
    await store.close();
    const db = new Database(path, { readonly: true });
    const stored = db.prepare("SELECT task_id, sequence FROM task_events").raw().all();
    expect(stored).toEqual([1, 2, 3].map((sequence) => [fine.task.id, sequence]));
    db.close();
  });

  it("stores the events of tasks written before it implied them, as it did", async () => {
    const path = join(dir, "before-implied.db");
    await createSqliteStore({ path }).close();
    // A task as the version before wrote it: its first event implied, the rest to be stored.
    const before = new Database(path);
    const item = newTask();
    before
      .prepare(
        `INSERT INTO tasks (${taskColumns.join(", ")}) VALUES (${taskColumns.map((c) => `@${c}`).join(", ")})`,
      )
      .run(rowFromTask(item.task, item.spec));
    before.close();
    const store = createSqliteStore({ path });
    const [claimed] = await store.claimTasks(
      1,
      (task) => stateChangeEvent(task.id, TaskState.RUNNING, 1),
      {
        owner: "me",
        expiresAt: Date.now() + 60_000,
      },
      unlimitedShares,
    );
    const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
    const done = await store.appendEvent(
      resultEvent(item.task.id, result),
      [TaskState.RUNNING],
      "me",
    );
    expect(await store.listEvents(item.task.id, 0n)).toEqual([
      item.event,
      claimed?.event,
      done?.event,
    ]);
    await store.close();
    const db = new Database(path, { readonly: true });
    const stored = db.prepare("SELECT sequence FROM task_events").pluck().all();
    expect(stored).toEqual([2, 3]);
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
    expect(await store.countBacklog("k1")).toEqual({
      queued: 2,
      unfinishedOfKey: 2,
      keyHasQueued: true,
    });
    expect(await store.countTasks(TaskState.SUCCEEDED)).toBe(1);
    // A failing write is rolled back alone, and counts for nothing; its neighbours in the
    // transaction run twice (see createWriteBatcher), and count once.
    const outcomes = await Promise.allSettled([
      store.insertTasks([newTask()]),
      // A task of the same id as one in the file: its insert fails.
      store.insertTasks([{ ...newTask(), task: mine[1] as Task }]),
      store.claimTasks(
        1,
        (task) => stateChangeEvent(task.id, TaskState.RUNNING, 1),
        { owner: "me", expiresAt: Date.now() + 60_000 },
        unlimitedShares,
      ),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    // The claim took k1's oldest queued task.
    expect(await store.countBacklog("k1")).toEqual({
      queued: 2,
      unfinishedOfKey: 2,
      keyHasQueued: true,
    });
    expect(await store.countBacklog("")).toEqual({
      queued: 2,
      unfinishedOfKey: 1,
      keyHasQueued: true,
    });
    expect(await store.countTasks(TaskState.RUNNING)).toBe(1);
    await store.close();
    const reopened = createSqliteStore({ path });
    expect(await reopened.countBacklog("k1")).toEqual({
      queued: 2,
      unfinishedOfKey: 2,
      keyHasQueued: true,
    });
    expect(await reopened.countTasks(TaskState.RUNNING)).toBe(1);
    await reopened.close();
  });

  it("keeps an earlier version's idempotency keys, scoped to the keys that submitted them", async () => {
    const path = join(dir, "before-scoped.db");
    // The file as the version before left it: its migrations up to the scoping, and a task
    // whose idempotency key it wrote as it came.
    const before = new Database(path);
    before.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY) STRICT");
    migrations.slice(0, 7).forEach((sql, index) => {
      before.exec(sql);
      before.prepare("INSERT INTO schema_migrations (version) VALUES (?)").run(index + 1);
    });
    const item = newTask({ idempotencyKey: "invoice-42", keyId: "aaaaaaaaaaaa" });
    before
      .prepare(
        `INSERT INTO tasks (${taskColumns.join(", ")}) VALUES (${taskColumns.map((c) => `@${c}`).join(", ")})`,
      )
      .run({ ...rowFromTask(item.task, item.spec), idempotency_key: "invoice-42" });
    before.close();
    const store = createSqliteStore({ path });
    expect((await store.getTask(item.task.id))?.idempotencyKey).toBe("invoice-42");
    const [again, other] = await store.insertTasks([
      newTask({ idempotencyKey: "invoice-42", keyId: "aaaaaaaaaaaa" }),
      newTask({ idempotencyKey: "invoice-42", keyId: "bbbbbbbbbbbb" }),
    ]);
    expect(again).toMatchObject({ created: false, task: { id: item.task.id } });
    expect(other?.created).toBe(true);
    await store.close();
  });

  it("creates its file for its owner alone, in a directory for its owner alone", async () => {
    const path = join(dir, "private", "cloudagent.db");
    const store = createSqliteStore({ path });
    await store.insertTasks([newTask()]);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    }
    expect((statSync(join(dir, "private")).mode & 0o777).toString(8)).toBe("700");
    await store.close();
  });
});
