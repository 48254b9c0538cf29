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

/** add changes a key's count, forgetting keys whose count falls to 0. */
function add(counts: Map<string, number>, keyId: string, change: number): void {
  if (change === 0) return;
  const now = (counts.get(keyId) ?? 0) + change;
  if (now === 0) counts.delete(keyId);
  else counts.set(keyId, now);
}

/**
 * TaskCounts are the tasks in each state, and each API key's unfinished (queued or running)
 * and queued ones: what every submit checks its caps against, what claims share the slots
 * by, and what the metrics report. One
 * instance owns a SQLite file, so they live in its memory: read from the tasks at open, then
 * moved by the store's writes as they commit. Counting in the database instead (triggers
 * writing two more rows at every move, and a read per submit) cost about a tenth of a
 * submit's time.
 */
export class TaskCounts {
  private readonly inState = new Map<TaskState, number>();
  private readonly unfinishedOfKey = new Map<string, number>();
  private readonly queuedOfKey = new Map<string, number>();

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
    const queuedByKey = db
      .prepare<[], { key_id: string; n: number }>(
        `SELECT key_id, COUNT(*) AS n FROM tasks WHERE state = ${TaskState.QUEUED} GROUP BY key_id`,
      )
      .all();
    for (const { key_id, n } of queuedByKey) this.queuedOfKey.set(key_id, n);
  }

  /** of is the number of tasks in a state. */
  of(state: TaskState): number {
    return this.inState.get(state) ?? 0;
  }

  /** unfinishedOf is the number of a key's tasks queued or running. */
  unfinishedOf(keyId: string): number {
    return this.unfinishedOfKey.get(keyId) ?? 0;
  }

  /** queuedByKey is the number of each key's queued tasks, for keys that have some. */
  get queuedByKey(): ReadonlyMap<string, number> {
    return this.queuedOfKey;
  }

  /** apply counts committed moves. */
  apply(moves: readonly StateMove[]): void {
    for (const { keyId, from, to } of moves) {
      if (from === to) continue;
      if (from !== undefined) this.inState.set(from, this.of(from) - 1);
      this.inState.set(to, this.of(to) + 1);
      const queued = (state: TaskState | undefined) => state === TaskState.QUEUED;
      add(this.queuedOfKey, keyId, Number(queued(to)) - Number(queued(from)));
      add(this.unfinishedOfKey, keyId, Number(unfinished(to)) - Number(unfinished(from)));
    }
  }
}
