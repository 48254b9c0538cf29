import type Database from "better-sqlite3";

/** WriteBatcher runs a write in the transaction of its turn; it resolves once that commits. */
export type WriteBatcher = <Output>(write: () => Output) => Promise<Output>;

interface PendingWrite {
  write(): unknown;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

/**
 * createWriteBatcher commits the writes asked for in one turn of the event loop in one
 * transaction, so they share one fsync; each still resolves only once its transaction has
 * committed. While a commit blocks the loop the next writes gather, so transactions grow with
 * the load. Writes run in the order they were asked for, each in a savepoint of its own: one
 * that throws is rolled back and rejects alone.
 */
export function createWriteBatcher(db: Database.Database): WriteBatcher {
  let pending: PendingWrite[] = [];
  const inSavepoint = db.transaction((write: () => unknown) => write());
  const runAll = db.transaction((batch: PendingWrite[]) =>
    batch.map((call) => {
      try {
        return { output: inSavepoint(call.write) };
      } catch (error) {
        return { error };
      }
    }),
  );

  function flush(): void {
    const batch = pending;
    pending = [];
    let outcomes: ({ output: unknown } | { error: unknown })[];
    try {
      outcomes = runAll.immediate(batch);
    } catch (error) {
      for (const call of batch) call.reject(error);
      return;
    }
    batch.forEach((call, i) => {
      const outcome = outcomes[i] as { output: unknown } | { error: unknown };
      if ("error" in outcome) call.reject(outcome.error);
      else call.resolve(outcome.output);
    });
  }

  return <Output>(write: () => Output) =>
    new Promise<Output>((resolve, reject) => {
      pending.push({ write, resolve: resolve as (output: unknown) => void, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
