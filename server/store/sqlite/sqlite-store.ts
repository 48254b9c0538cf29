import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import {
  type Task,
  type TaskEvent,
  TaskEventSchema,
  TaskState,
} from "../../../gen/noizylab/agent/v1/task_pb.js";
import { createRateLimiter } from "../../security/rate-limiter.js";
import { type ClaimShares, claimTurns, inTurnOrder } from "../claim-turns.js";
import { impliedEvents, isImpliedEvent } from "../implied-events.js";
import type { AppendedEvent, InsertedTask, Lease, NewTask, Store, TaskQuery } from "../store.js";
import { applyEvent } from "../task-projection.js";
import {
  eventColumns,
  eventRowFromTask,
  eventValues,
  type LeasedTaskRow,
  leasedTaskColumns,
  rowFromTask,
  scopedIdempotencyKey,
  type TaskRow,
  taskColumns,
  taskFromRow,
  taskValues,
} from "../task-rows.js";
import { createLogSync } from "./log-sync.js";
import { migrations } from "./migrations.js";
import { prepareRowReader, type RowReader } from "./row-reader.js";
import { createSqliteAuditStore } from "./sqlite-audit.js";
import { createSqliteKeyStore } from "./sqlite-keys.js";
import { type StateMove, TaskCounts } from "./task-counts.js";
import { createWriteBatcher } from "./write-batcher.js";

/** SqliteStoreOptions configures the embedded SQLite store. */
export interface SqliteStoreOptions {
  /** The database file; created with its directory when missing. ":memory:" for tests. */
  readonly path: string;
}

/**
 * StoredTaskRow is a task's row as this store keeps it: events_stored is 0 while its row
 * implies all the task's events (see keepEvent), 1 once some are in task_events, and for the
 * rows written before the column, which may have some there.
 */
type StoredTaskRow = LeasedTaskRow & { events_stored: number };

const storedTaskColumns = [...leasedTaskColumns, "events_stored"] as const;

/** LeaseColumns is what a write reads of a task's row before it applies an event. */
type LeaseColumns = Pick<
  StoredTaskRow,
  "state" | "last_sequence" | "lease_owner" | "lease_expires_at" | "events_stored"
>;

/**
 * leaseOf is the lease a task holds after an event: a new lease when the event claims it,
 * the row's lease while it stays running, and none once it leaves the running state.
 */
function leaseOf(task: Task, row: LeaseColumns, claim?: Lease): Lease | undefined {
  if (task.state !== TaskState.RUNNING) return undefined;
  if (claim) return claim;
  return row.lease_owner === null
    ? undefined
    : { owner: row.lease_owner, expiresAt: row.lease_expires_at ?? 0 };
}

function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY) STRICT");
  const applied = db
    .prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
    .get() as {
    v: number;
  };
  migrations.forEach((sql, index) => {
    const version = index + 1;
    if (version <= applied.v) return;
    db.transaction(() => {
      db.exec(sql);
      db.prepare("INSERT INTO schema_migrations (version) VALUES (?)").run(version);
    }).immediate();
  });
}

/**
 * createSqliteStore opens (or creates) the SQLite database and applies its migrations. WAL
 * mode; a write resolves once its transaction is on disk, so one that returned survives a
 * crash of the process and of the machine. Commits do not wait for the disk themselves
 * (synchronous=NORMAL, which keeps the file consistent whatever happens): the log is fsynced
 * off the event loop, once for all the transactions committed meanwhile (see createLogSync).
 */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const inMemory = options.path === ":memory:";
  if (!inMemory) {
    // The file holds every task, the audit trail and the keys' hashes: its owner's alone.
    // SQLite gives its log and shared-memory files the database file's mode.
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    closeSync(openSync(options.path, "a", 0o600));
  }
  const db = new Database(options.path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  // A checkpoint copies the log's pages into the file, on the event loop, in the commit that
  // takes the log past this many pages. At SQLite's 1,000 (4 MB) a busy server checkpointed
  // every few hundred milliseconds, ~5 ms each, copying the same hot pages (the tables' and
  // indexes' ends) each time. At 10,000 (a log of up to 40 MB) it copies each of them once for
  // ten times the commits: under a load of Submits, a quarter less time committing, in a pause
  // of up to ~20 ms every second or two.
  const checkpointPages = 10_000;
  db.pragma(`wal_autocheckpoint = ${checkpointPages}`);
  // From here every write goes through the batcher, which waits for the log's fsync.
  db.pragma("synchronous = NORMAL");
  const logSync = inMemory ? undefined : createLogSync(`${options.path}-wal`);
  // The writes of one turn commit together (see createWriteBatcher).
  const write = createWriteBatcher(db, logSync);
  const counts = new TaskCounts(db);
  /** counted runs a write that moves tasks between states, and counts the moves it committed. */
  function counted<Output>(run: (moves: StateMove[]) => Output): Promise<Output> {
    let moves: StateMove[] = [];
    return write(
      () => {
        // A write may run twice (see createWriteBatcher): only its last run counts.
        moves = [];
        return run(moves);
      },
      () => counts.apply(moves),
    );
  }

  // Positional parameters: better-sqlite3 binds a named one ~0.05 µs slower, and a task's
  // insert and two updates bind 46 (~2 µs a task).
  const insertTaskRow = db.prepare(
    `INSERT INTO tasks (${taskColumns.join(", ")}, events_stored)
     VALUES (${taskColumns.map(() => "?").join(", ")}, ?)`,
  );
  const updateTaskRow = db.prepare(
    `UPDATE tasks SET ${eventColumns.map((c) => `${c} = ?`).join(", ")},
     lease_owner = ?, lease_expires_at = ?, events_stored = ? WHERE id = ?`,
  );
  const selectTask = prepareRowReader<LeasedTaskRow, [string]>(
    db,
    leasedTaskColumns,
    "FROM tasks WHERE id = ?",
  );
  const selectLease = prepareRowReader<LeaseColumns, [string]>(
    db,
    ["state", "last_sequence", "lease_owner", "lease_expires_at", "events_stored"],
    "FROM tasks WHERE id = ?",
  );
  const selectByKey = prepareRowReader<TaskRow, [string]>(
    db,
    taskColumns,
    "FROM tasks WHERE idempotency_key = ?",
  );
  // SQLite plans a query for the number bound to its LIMIT, and so expires the statement at
  // every binding of it, even to the same number: with a bound LIMIT, every claim was parsed
  // and planned anew. So each claim size has its statement, its LIMIT written in.
  const nextQueuedBySize = new Map<number, RowReader<[string], StoredTaskRow>>();
  /** selectNextQueued reads a key's next queued tasks, in the order they are to start. */
  function selectNextQueued(keyId: string, limit: number): StoredTaskRow[] {
    let reader = nextQueuedBySize.get(limit);
    if (reader === undefined) {
      // Without statistics the planner would rather sort every queued task than read the
      // queue's own index in order: with a backlog, each claim cost as much as the backlog.
      reader = prepareRowReader<StoredTaskRow, [string]>(
        db,
        storedTaskColumns,
        `FROM tasks INDEXED BY tasks_queue_by_key WHERE state = ${TaskState.QUEUED} AND key_id = ?
         ORDER BY priority DESC, id LIMIT ${limit}`,
      );
      nextQueuedBySize.set(limit, reader);
    }
    return reader.all(keyId);
  }
  const renewLease = db.prepare(
    `UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND state = ${TaskState.RUNNING}`,
  );
  const selectExpired = prepareRowReader<StoredTaskRow, [number]>(
    db,
    storedTaskColumns,
    `FROM tasks WHERE state = ${TaskState.RUNNING} AND COALESCE(lease_expires_at, 0) < ? ORDER BY id`,
  );
  const insertEventRow = db.prepare(
    "INSERT INTO task_events (task_id, sequence, event) VALUES (?, ?, ?)",
  );
  const selectEvents = db.prepare<[string, number], { event: Uint8Array }>(
    "SELECT event FROM task_events WHERE task_id = ? AND sequence > ? ORDER BY sequence",
  );

  function append(
    moves: StateMove[],
    before: Task,
    row: LeaseColumns,
    event: TaskEvent,
    lease?: Lease,
  ) {
    event.sequence = before.lastSequence + 1n;
    const task = applyEvent(before, event);
    moves.push({ keyId: task.keyId, from: row.state, to: task.state });
    const kept = leaseOf(task, row, lease);
    const eventsStored = keepEvent(before, task, event, row.events_stored === 1);
    updateTaskRow.run(
      ...eventValues(eventRowFromTask(task)),
      kept?.owner ?? null,
      kept?.expiresAt ?? null,
      eventsStored ? 1 : 0,
      task.id,
    );
    return { task, event } satisfies AppendedEvent;
  }

  function insertEvent(event: TaskEvent): void {
    insertEventRow.run(event.taskId, Number(event.sequence), toBinary(TaskEventSchema, event));
  }

  /**
   * keepEvent stores an event unless its task's row implies it (see impliedEvents), and tells
   * whether the task has stored events since: most tasks have no other events than those,
   * and a task's row is written at each of them anyway. Once one is not implied, it is stored
   * with those the row implied before it, from the second on (the first is read from
   * created_at, which never changes; the others from columns the next events may change), and
   * every event after it is stored. Claims and outcomes so write their row alone.
   */
  function keepEvent(before: Task, task: Task, event: TaskEvent, eventsStored: boolean): boolean {
    if (!eventsStored) {
      if (isImpliedEvent(event, task)) return false;
      for (const implied of impliedEvents(before).slice(1)) insertEvent(implied);
    }
    insertEvent(event);
    return true;
  }

  /** insertTasks inserts each task as it stands after its first event, or its end if it ran. */
  function insertTasks(moves: StateMove[], tasks: readonly NewTask[]): InsertedTask[] {
    return tasks.map(({ task: queued, spec, event, ran }) => {
      const existing =
        queued.idempotencyKey === ""
          ? undefined
          : selectByKey.get(scopedIdempotencyKey(queued.keyId, queued.idempotencyKey));
      if (existing) return { task: taskFromRow(existing), created: false };
      const events = ran ? [event, ran.start, ran.end] : [event];
      let task = queued;
      let implied = isImpliedEvent(event, task);
      for (const next of events.slice(1)) {
        next.sequence = task.lastSequence + 1n;
        task = applyEvent(task, next);
        implied &&= isImpliedEvent(next, task);
      }
      insertTaskRow.run(...taskValues(rowFromTask(task, spec)), implied ? 0 : 1);
      if (!implied) events.forEach(insertEvent);
      moves.push({ keyId: task.keyId, from: undefined, to: task.state });
      return { task, created: true };
    });
  }

  // The writer of a task's events usually knows the task as it wrote it last: when the row
  // still has that sequence, the task is read from it and not from the row.
  function appendEvent(
    moves: StateMove[],
    event: TaskEvent,
    expected: readonly TaskState[],
    leaseOwner?: string,
    current?: Task,
  ) {
    const row = selectLease.get(event.taskId);
    if (row === undefined || !expected.includes(row.state)) return undefined;
    if (leaseOwner !== undefined && row.lease_owner !== leaseOwner) return undefined;
    if (current !== undefined && current.lastSequence === BigInt(row.last_sequence)) {
      return append(moves, current, row, event);
    }
    // The row is there: it was read a moment ago, in this transaction.
    return append(moves, taskFromRow(selectTask.get(event.taskId) as LeasedTaskRow), row, event);
  }

  function claimTasks(
    moves: StateMove[],
    limit: number,
    start: (task: Task) => TaskEvent,
    lease: Lease,
    shares: ClaimShares,
  ) {
    // The counts as of the last commit: tasks queued in this same transaction get their turn
    // at the next claim (their insert wakes the executor).
    const turns = claimTurns(counts.queuedByKey, limit, shares);
    const taken = new Map<string, number>();
    for (const keyId of turns) taken.set(keyId, (taken.get(keyId) ?? 0) + 1);
    const rows = new Map<string, StoredTaskRow[]>();
    for (const [keyId, count] of taken) rows.set(keyId, selectNextQueued(keyId, count));
    return inTurnOrder(turns, rows).map((row) => {
      const task = taskFromRow(row);
      return append(moves, task, row, start(task), lease);
    });
  }

  function takeOverTasks(
    moves: StateMove[],
    expiredBefore: number,
    takeOver: (task: Task) => TaskEvent,
  ) {
    return selectExpired.all(expiredBefore).map((row) => {
      const task = taskFromRow(row);
      return append(moves, task, row, takeOver(task));
    });
  }

  function readTask(taskId: string): Task | undefined {
    const row = selectTask.get(taskId);
    return row && taskFromRow(row);
  }

  /**
   * eventsAfter reads a task's events, stored or implied by its row (see keepEvent); `read` is
   * the task, if the caller read it.
   */
  function eventsAfter(taskId: string, afterSequence: bigint, read?: Task): TaskEvent[] {
    const stored = selectEvents
      .all(taskId, Number(afterSequence))
      .map((row) => fromBinary(TaskEventSchema, row.event));
    // Of the events before stored ones, only the first may be implied.
    if (stored.length > 0 && (afterSequence > 0n || stored[0]?.sequence === 1n)) return stored;
    const task = read ?? readTask(taskId);
    if (task === undefined) return stored;
    const implied = impliedEvents(task);
    if (stored.length > 0) return [implied[0] as TaskEvent, ...stored];
    return implied.filter((event) => event.sequence > afterSequence);
  }

  return {
    keys: createSqliteKeyStore(db, write),
    audit: createSqliteAuditStore(db, write),
    // One instance uses a SQLite file: its rate-limit buckets need not leave its memory.
    shared: false,
    rateLimiter: createRateLimiter(),
    insertTasks: (tasks) => counted((moves) => insertTasks(moves, tasks)),
    getTask: async (id) => readTask(id),
    async listTasks(query: TaskQuery) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.states.length > 0) {
        where.push(`state IN (${query.states.map(() => "?").join(", ")})`);
        params.push(...query.states);
      }
      if (query.types.length > 0) {
        where.push(`type IN (${query.types.map(() => "?").join(", ")})`);
        params.push(...query.types);
      }
      if (query.keyId !== undefined) {
        where.push("key_id = ?");
        params.push(query.keyId);
      }
      if (query.createdAfter !== undefined) {
        where.push("created_at >= ?");
        params.push(query.createdAfter);
      }
      if (query.createdBefore !== undefined) {
        where.push("created_at < ?");
        params.push(query.createdBefore);
      }
      if (query.beforeId !== undefined) {
        where.push("id < ?");
        params.push(query.beforeId);
      }
      const sql = `SELECT * FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
      const rows = db.prepare<unknown[], TaskRow>(sql).all(...params, query.limit);
      return rows.map(taskFromRow);
    },
    listEvents: async (taskId, afterSequence) => eventsAfter(taskId, afterSequence),
    async getTaskWithEvents(taskId, afterSequence) {
      const task = readTask(taskId);
      return task && { task, events: eventsAfter(taskId, afterSequence, task) };
    },
    appendEvent: (event, expected, leaseOwner, current) =>
      counted((moves) => appendEvent(moves, event, expected, leaseOwner, current)),
    claimTasks: (limit, start, lease, shares) =>
      counted((moves) => claimTasks(moves, limit, start, lease, shares)),
    async renewLeases(owner, taskIds, expiresAt) {
      if (taskIds.length === 0) return;
      await write(() => {
        for (const id of taskIds) renewLease.run(expiresAt, id, owner);
      });
    },
    takeOverTasks: (expiredBefore, takeOver) =>
      counted((moves) => takeOverTasks(moves, expiredBefore, takeOver)),
    // Nobody else writes to the file: there are no remote events, and the disk is always there.
    onRemoteEvent: () => () => {},
    onFeedGap: () => () => {},
    onAvailability: () => () => {},
    async countBacklog(keyId) {
      return {
        queued: counts.of(TaskState.QUEUED),
        unfinishedOfKey: counts.unfinishedOf(keyId),
        keyHasQueued: counts.queuedByKey.has(keyId),
      };
    },
    async countTasks(state) {
      return counts.of(state);
    },
    async close() {
      await logSync?.close();
      db.close();
    },
  };
}
