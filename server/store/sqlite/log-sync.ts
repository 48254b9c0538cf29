import { closeSync, fsync, openSync } from "node:fs";

/** LogSync makes committed transactions durable off the event loop. */
export interface LogSync {
  /**
   * afterCommit calls back once everything committed before the call has reached the disk,
   * or with the error that kept it from getting there.
   */
  afterCommit(done: (error: Error | null) => void): void;
  /** close waits for the fsync in flight, if any, and lets go of the file. */
  close(): Promise<void>;
}

/**
 * createLogSync fsyncs a database's write-ahead log on libuv's thread pool, so the event loop
 * goes on serving while the disk works. One fsync is in flight at a time, and it covers
 * every transaction committed before it began: callers arriving meanwhile wait together for
 * the next one (group commit). fsync flushes a file whatever descriptor wrote it, so the log
 * is opened here, read-only, next to SQLite's own descriptor.
 */
export function createLogSync(logPath: string): LogSync {
  let fd: number | undefined;
  let waiting: ((error: Error | null) => void)[] = [];
  let inFlight: Promise<void> | undefined;

  function start(): void {
    const group = waiting;
    waiting = [];
    inFlight = new Promise((settled) => {
      const finish = (error: Error | null) => {
        inFlight = undefined;
        settled();
        for (const done of group) done(error);
        if (waiting.length > 0) start();
      };
      try {
        fd ??= openSync(logPath, "r");
      } catch (error) {
        finish(error as Error);
        return;
      }
      fsync(fd, finish);
    });
  }

  return {
    afterCommit(done) {
      waiting.push(done);
      if (inFlight === undefined) start();
    },
    async close() {
      while (inFlight !== undefined) await inFlight;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
