import type Database from "better-sqlite3";
import type { LogSync } from "./log-sync.js";

/**
 * WriteBatcher runs a write in the transaction of its turn; it resolves once that is durable.
 * A write may run twice (see createWriteBatcher): it must change nothing but the database.
 * `committed`, when given, is called once the transaction holding the write has committed,
 * before it is durable: what it keeps in memory then matches what other reads see.
 */
export type WriteBatcher = <Output>(write: () => Output, committed?: () => void) => Promise<Output>;

interface PendingWrite {
  write(): unknown;
  committed: (() => void) | undefined;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { output: unknown } | { error: unknown };

/**
 * createWriteBatcher commits the writes asked for in one turn of the event loop in one
 * transaction, in the order they were asked for. When one throws, the transaction is rolled
 * back and run again with each write in a savepoint of its own (savepoints cost, and writes
 * rarely throw): the one that throws is rolled back and rejects alone. The others resolve
 * once their transaction is durable: at once on a database without a file, else when
 * `logSync` says the log holding it reached the disk (the commit does not wait for the disk).
 */
export function createWriteBatcher(
  db: Database.Database,
  logSync: LogSync | undefined,
): WriteBatcher {
  let pending: PendingWrite[] = [];
  const inSavepoint = db.transaction((write: () => unknown) => write());
  const runAll = db.transaction((batch: PendingWrite[]): Outcome[] =>
    batch.map((call) => ({ output: call.write() })),
  );
  const runEach = db.transaction((batch: PendingWrite[]) =>
    batch.map((call): Outcome => {
      try {
        return { output: inSavepoint(call.write) };
      } catch (error) {
        return { error };
      }
    }),
  );

  function settle(batch: PendingWrite[], outcomes: Outcome[], syncError: Error | null): void {
    batch.forEach((call, i) => {
      const outcome = outcomes[i] as Outcome;
      if ("error" in outcome) call.reject(outcome.error);
      else if (syncError) call.reject(syncError);
      else call.resolve(outcome.output);
    });
  }

  function flush(): void {
    const batch = pending;
    pending = [];
    let outcomes: Outcome[];
    try {
      outcomes = runAll.immediate(batch);
    } catch {
      try {
        outcomes = runEach.immediate(batch);
      } catch (error) {
        for (const call of batch) call.reject(error);
        return;
      }
    }
    batch.forEach((call, i) => {
      if (!("error" in (outcomes[i] as Outcome))) call.committed?.();
    });
    if (logSync === undefined) settle(batch, outcomes, null);
    else logSync.afterCommit((error) => settle(batch, outcomes, error));
  }

  return <Output>(write: () => Output, committed?: () => void) =>
    new Promise<Output>((resolve, reject) => {
      pending.push({ write, committed, resolve: resolve as (output: unknown) => void, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
