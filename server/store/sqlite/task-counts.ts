import type Database from "better-sqlite3";
import { TaskState } from "../../../gen/noizylab/agent/v1/task_pb.js";

/** StateMove is one task entering a state: `from` is undefined for a task just inserted. */
export interface StateMove {
  readonly keyId: string;
  readonly from: TaskState | undefined;
  readonly to: TaskState;
}

const unfinished = (state: TaskState | undefined) =>
  state === TaskState.QUEUED || state === TaskState.RUNNING;

/**
 * TaskCounts are the tasks in each state, and each API key's unfinished (queued or running)
 * ones: what every submit checks its caps against, and what the metrics report. One
 * instance owns a SQLite file, so they live in its memory: read from the tasks at open, then
 * moved by the store's writes as they commit. Counting in the database instead (triggers
 * writing two more rows at every move, and a read per submit) cost about a tenth of a
 * submit's time.
 */
export class TaskCounts {
  private readonly inState = new Map<TaskState, number>();
  private readonly unfinishedOfKey = new Map<string, number>();

  constructor(db: Database.Database) {
    const byState = db
      .prepare<[], { state: TaskState; n: number }>(
        "SELECT state, COUNT(*) AS n FROM tasks GROUP BY state",
      )
      .all();
    for (const { state, n } of byState) this.inState.set(state, n);
    const byKey = db
      .prepare<[], { key_id: string; n: number }>(
        `SELECT key_id, COUNT(*) AS n FROM tasks
         WHERE state IN (${TaskState.QUEUED}, ${TaskState.RUNNING}) GROUP BY key_id`,
      )
      .all();
    for (const { key_id, n } of byKey) this.unfinishedOfKey.set(key_id, n);
  }

  /** of is the number of tasks in a state. */
  of(state: TaskState): number {
    return this.inState.get(state) ?? 0;
  }

  /** unfinishedOf is the number of a key's tasks queued or running. */
  unfinishedOf(keyId: string): number {
    return this.unfinishedOfKey.get(keyId) ?? 0;
  }

  /** apply counts committed moves. */
  apply(moves: readonly StateMove[]): void {
    for (const { keyId, from, to } of moves) {
      if (from === to) continue;
      if (from !== undefined) this.inState.set(from, this.of(from) - 1);
      this.inState.set(to, this.of(to) + 1);
      const change = Number(unfinished(to)) - Number(unfinished(from));
      if (change === 0) continue;
      const left = this.unfinishedOf(keyId) + change;
      if (left === 0) this.unfinishedOfKey.delete(keyId);
      else this.unfinishedOfKey.set(keyId, left);
    }
  }
}
