import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test-support.js";
import { createLogSync } from "./log-sync.js";
import { createWriteBatcher } from "./write-batcher.js";

describe("createWriteBatcher", () => {
  it("commits the writes of one turn in one transaction, and a failing write alone, and tells of the commit", async () => {
    const path = join(tempDir("write-batcher-"), "batch.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY)");
    const reader = new Database(path, { readonly: true });
    const seenByReader = () =>
      (reader.prepare("SELECT count(*) AS c FROM t").get() as { c: number }).c;
    const insert = db.prepare("INSERT INTO t (n) VALUES (?)");
    const logSync = createLogSync(`${path}-wal`);
    const write = createWriteBatcher(db, logSync);

    // Told of each commit before it is durable: the writes resolve once it is.
    const committed: string[] = [];
    const told = (name: string) => () => committed.push(`${name} seen by ${seenByReader()}`);
    const outcomes = await Promise.allSettled([
      write(() => insert.run(1).changes, told("first")),
      write(() => {
        insert.run(2);
        insert.run(1); // a duplicate: this write's savepoint is rolled back, row 2 with it
      }, told("duplicate")),
      // Another connection does not see the first write yet: the turn's transaction is open.
      write(() => seenByReader()),
      write(() => insert.run(3).changes, told("third")),
    ]);
    expect(committed).toEqual(["first seen by 2", "third seen by 2"]);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value : "rejected"))).toEqual([
      1,
      "rejected",
      0,
      1,
    ]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(db.prepare("SELECT n FROM t ORDER BY n").pluck().all()).toEqual([1, 3]);
    expect(seenByReader()).toBe(2);
    expect(await write(() => insert.run(4).changes)).toBe(1);
    await logSync.close();
    reader.close();
    db.close();
  });

  it("acknowledges no write whose log did not reach the disk", async () => {
    const db = new Database(join(tempDir("write-batcher-"), "lost.db"));
    db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY)");
    // A log that is not there stands for a disk that fails the fsync.
    const write = createWriteBatcher(db, createLogSync(join(tempDir(), "missing-wal")));
    await expect(write(() => db.prepare("INSERT INTO t (n) VALUES (1)").run())).rejects.toThrow(
      /ENOENT/,
    );
    db.close();
  });

  it("closes the log only after the fsyncs asked for have completed", async () => {
    const path = join(tempDir("write-batcher-"), "grouped.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY)");
    const logSync = createLogSync(`${path}-wal`);
    const order: number[] = [];
    logSync.afterCommit(() => order.push(1));
    logSync.afterCommit(() => order.push(2));
    logSync.afterCommit(() => order.push(3));
    // The first fsync is under way when the others ask: they wait for the next one, together.
    await logSync.close();
    expect(order).toEqual([1, 2, 3]);
    db.close();
  });
});
