import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test-support.js";
import { describeStoreContract, newTask } from "../store-contract.js";
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
});
