import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Task,
  type TaskEvent,
  TaskEventSchema,
  TaskState,
} from "../../../gen/noizylab/agent/v1/task_pb.js";
import { type ClaimShares, claimTurns, inTurnOrder } from "../claim-turns.js";
import type {
  AppendedEvent,
  CommittedEventListener,
  InsertedTask,
  Lease,
  NewTask,
  Store,
  TaskQuery,
} from "../store.js";
import { applyEvent } from "../task-projection.js";
import {
  eventColumns,
  eventRowFromTask,
  eventValues,
  type LeasedTaskRow,
  rowFromTask,
  scopedIdempotencyKey,
  type TaskRow,
  taskColumns,
  taskFromRow,
  taskValues,
} from "../task-rows.js";
import { auditChannel, createPgAuditStore } from "./pg-audit.js";
import { createPgDatabase, type Query } from "./pg-database.js";
import { eventChannel, eventNotice, readEventNotice } from "./pg-event-notices.js";
import { startPgFeed } from "./pg-feed.js";
import { createPgKeyStore, keyChannel } from "./pg-keys.js";
import { migrate } from "./pg-migrations.js";
import { createPgRateLimiter } from "./pg-rate-limiter.js";

/** PgStoreOptions configure the PostgreSQL store. */
export interface PgStoreOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  /** The most connections this instance opens for queries (the feed has one more). */
  readonly poolSize: number;
  /** The agent instance using the store: it skips the notifications of its own events. */
  readonly instanceId: string;
}

const columnList = taskColumns.join(", ");
const placeholders = taskColumns.map((_, index) => `$${index + 1}`).join(", ");

/**
 * createPgStore connects to PostgreSQL, applies missing migrations and starts listening for
 * the events other instances commit. Several instances share one database: claims use
 * FOR UPDATE SKIP LOCKED, running tasks hold leases, and every committed event is announced
 * with NOTIFY in its own transaction (the table stays the source of truth for replay).
 */
export async function createPgStore(options: PgStoreOptions): Promise<Store> {
  const db = createPgDatabase({ url: options.url, poolSize: options.poolSize });
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  const { instanceId } = options;
  const remoteListeners = new Set<CommittedEventListener>();
  const gapListeners = new Set<() => void>();
  const availabilityListeners = new Set<(available: boolean) => void>();

  async function receiveEvent(payload: string): Promise<void> {
    if (remoteListeners.size === 0) return;
    const notice = readEventNotice(payload, instanceId);
    if (notice === undefined) return;
    const [event] =
      "event" in notice ? [notice.event] : await listEvents(notice.taskId, notice.sequence - 1n);
    if (event) for (const listener of remoteListeners) listener(event, notice.task);
  }

  const audit = createPgAuditStore(db, instanceId);
  const keys = createPgKeyStore(db);
  const feed = await startPgFeed({
    url: options.url,
    channels: [eventChannel, auditChannel, keyChannel],
    onNotification: (channel, payload) => {
      if (channel === keyChannel) {
        keys.revoked(payload);
        return;
      }
      const received = channel === auditChannel ? audit.receive(payload) : receiveEvent(payload);
      received.catch(() => {
        // Unreadable now (the database went away): task watchers fill the hole from the
        // store with the next event; the audit channel is a live view, the table keeps all.
      });
    },
    onAvailability: (available) => {
      for (const listener of availabilityListeners) listener(available);
    },
    onGap: () => {
      // Revocations may have been missed too.
      keys.revoked();
      for (const listener of gapListeners) listener();
    },
  }).catch(async (error) => {
    await db.close();
    throw error;
  });

  // An event's write sets the columns events change ($2 on; the spec and the rest are fixed
  // at submit); $1 is the task's id.
  const eventParams = eventColumns.length + 1;
  const eventPlaceholders = eventColumns.map((_, index) => `$${index + 2}`).join(", ");
  const newState = `$${eventColumns.indexOf("state") + 2}`;
  /**
   * One statement writes an event: the columns of the task's row it changes, if the row
   * still is as the event's writer saw it (the same sequence, an expected state, the lease
   * holder when one is named), then the event and the notification, all in the statement's
   * transaction. Its only row says it applied. A claim sets the lease; a task staying
   * running keeps its own (its renewals included); any other state drops it.
   */
  const writeEventSql = `
    WITH updated AS (
      UPDATE tasks SET (${eventColumns.join(", ")}) = (${eventPlaceholders}),
        lease_owner = CASE WHEN $${eventParams + 1}::text IS NOT NULL THEN $${eventParams + 1}
          WHEN ${newState} = ${TaskState.RUNNING} THEN tasks.lease_owner END,
        lease_expires_at = CASE WHEN $${eventParams + 1}::text IS NOT NULL THEN $${eventParams + 2}::bigint
          WHEN ${newState} = ${TaskState.RUNNING} THEN tasks.lease_expires_at END
      WHERE id = $1 AND last_sequence = $${eventParams + 3} AND state = ANY($${eventParams + 4}::int[])
        AND ($${eventParams + 5}::text IS NULL OR lease_owner = $${eventParams + 5})
      RETURNING id
    ), stored AS (
      INSERT INTO task_events (task_id, sequence, event)
      SELECT id, $${eventParams + 6}, $${eventParams + 7} FROM updated
    )
    SELECT pg_notify($${eventParams + 8}, $${eventParams + 9}) FROM updated`;

  /** What a write expects of the row, and the lease a claim takes. */
  interface Guard {
    readonly expected: readonly TaskState[];
    readonly leaseOwner?: string | undefined;
    readonly claim?: Lease;
  }

  /**
   * append applies an event to the task as its writer saw it and writes both; undefined when
   * the row is no longer so (see writeEventSql).
   */
  async function append(
    query: Query,
    before: Task,
    event: TaskEvent,
    guard: Guard,
  ): Promise<AppendedEvent | undefined> {
    event.sequence = before.lastSequence + 1n;
    const task = applyEvent(before, event);
    const bytes = toBinary(TaskEventSchema, event);
    const applied = await query(writeEventSql, [
      task.id,
      ...eventValues(eventRowFromTask(task)),
      guard.claim?.owner ?? null,
      guard.claim?.expiresAt ?? null,
      Number(before.lastSequence),
      guard.expected,
      guard.leaseOwner ?? null,
      Number(event.sequence),
      bytes,
      eventChannel,
      eventNotice(instanceId, event, bytes, task),
    ]);
    return applied.length === 1 ? { task, event } : undefined;
  }

  const rowColumns = taskColumns.length;
  /**
   * One statement inserts a task with its first event and notification, unless its
   * idempotency key is taken: then it returns no row.
   */
  const insertTaskSql = `
    WITH inserted AS (
      INSERT INTO tasks (${columnList}) VALUES (${placeholders})
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
    ), stored AS (
      INSERT INTO task_events (task_id, sequence, event)
      SELECT id, $${rowColumns + 1}, $${rowColumns + 2} FROM inserted
    )
    SELECT pg_notify($${rowColumns + 3}, $${rowColumns + 4}) FROM inserted`;

  /** insertEach inserts tasks one by one, and writes on each the events of its run, if it ran. */
  async function insertEach(query: Query, tasks: readonly NewTask[]): Promise<InsertedTask[]> {
    const inserted: InsertedTask[] = [];
    for (const { task: queued, spec, event, ran } of tasks) {
      let task = queued;
      const bytes = toBinary(TaskEventSchema, event);
      const created = await query(insertTaskSql, [
        ...taskValues(rowFromTask(task, spec)),
        Number(event.sequence),
        bytes,
        eventChannel,
        eventNotice(instanceId, event, bytes, task),
      ]);
      if (created.length === 1) {
        for (const next of ran ? [ran.start, ran.end] : []) {
          const appended = await append(query, task, next, { expected: [task.state] });
          if (appended === undefined) throw new Error(`task ${task.id} changed as it was inserted`);
          task = appended.task;
        }
        inserted.push({ task, created: true });
        continue;
      }
      const [existing] = await query<TaskRow>("SELECT * FROM tasks WHERE idempotency_key = $1", [
        scopedIdempotencyKey(task.keyId, task.idempotencyKey),
      ]);
      if (existing === undefined) throw new Error(`task ${task.id} was neither inserted nor found`);
      inserted.push({ task: taskFromRow(existing), created: false });
    }
    return inserted;
  }

  /**
   * reserveInTurn reserves (leases, still queued) the tasks a claim of `limit` starts, and
   * returns them in the order they start, in one transaction: it locks each waiting key's
   * next few tasks (the keys found by a loose scan of the queue's index, a step a key, not by
   * reading the whole queue) with FOR UPDATE SKIP LOCKED, so that instances claiming at once
   * skip each other's rows instead of waiting, deals them in turn among keys (see
   * claimTurns), and leases those dealt.
   */
  function reserveInTurn(limit: number, lease: Lease, shares: ClaimShares): Promise<TaskRow[]> {
    return db.transaction(async (query) => {
      const candidates = await query<{ id: string; key_id: string }>(
        `WITH RECURSIVE waiting(key_id) AS (
           (SELECT key_id FROM tasks WHERE state = ${TaskState.QUEUED} ORDER BY key_id LIMIT 1)
           UNION ALL
           SELECT (SELECT t.key_id FROM tasks t
                   WHERE t.state = ${TaskState.QUEUED} AND t.key_id > w.key_id
                   ORDER BY t.key_id LIMIT 1)
           FROM waiting w WHERE w.key_id IS NOT NULL
         )
         SELECT next.id, next.key_id FROM waiting w CROSS JOIN LATERAL (
           SELECT t.id, t.key_id FROM tasks t
           WHERE t.state = ${TaskState.QUEUED} AND t.key_id = w.key_id
             AND COALESCE(t.lease_expires_at, 0) < $2
           ORDER BY t.priority DESC, t.id LIMIT $1 FOR UPDATE SKIP LOCKED
         ) next
         WHERE w.key_id IS NOT NULL`,
        [limit, Date.now()],
      );
      const byKey = new Map<string, string[]>();
      for (const { id, key_id } of candidates) {
        const ids = byKey.get(key_id) ?? [];
        ids.push(id);
        byKey.set(key_id, ids);
      }
      const queued = new Map([...byKey].map(([keyId, ids]) => [keyId, ids.length]));
      const picked = inTurnOrder(claimTurns(queued, limit, shares), byKey);
      if (picked.length === 0) return [];
      const rows = await query<TaskRow>(
        `UPDATE tasks SET lease_owner = $1, lease_expires_at = $2 WHERE id = ANY($3) RETURNING *`,
        [lease.owner, lease.expiresAt, picked],
      );
      // RETURNING keeps no order: they start in the turns'.
      const reserved = new Map(rows.map((row) => [row.id, row]));
      return picked.flatMap((id) => reserved.get(id) ?? []);
    });
  }

  async function listEvents(taskId: string, afterSequence: bigint): Promise<TaskEvent[]> {
    const rows = await db.query<{ event: Uint8Array }>(
      "SELECT event FROM task_events WHERE task_id = $1 AND sequence > $2 ORDER BY sequence",
      [taskId, Number(afterSequence)],
    );
    return rows.map((row) => fromBinary(TaskEventSchema, row.event));
  }

  return {
    keys,
    audit,
    shared: true,
    rateLimiter: createPgRateLimiter(db),
    insertTasks: (tasks) =>
      // One task that did not run (the usual submit) is one statement, so it needs no
      // transaction of its own.
      tasks.length === 1 && tasks[0]?.ran === undefined
        ? insertEach(db.query, tasks)
        : db.transaction((query) => insertEach(query, tasks)),
    async getTask(id) {
      const [row] = await db.query<TaskRow>("SELECT * FROM tasks WHERE id = $1", [id]);
      return row && taskFromRow(row);
    },
    async listTasks(query: TaskQuery) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, value: unknown) => {
        params.push(value);
        where.push(clause.replace("?", `$${params.length}`));
      };
      if (query.states.length > 0) add("state = ANY(?)", query.states);
      if (query.types.length > 0) add("type = ANY(?)", query.types);
      if (query.keyId !== undefined) add("key_id = ?", query.keyId);
      if (query.createdAfter !== undefined) add("created_at >= ?", query.createdAfter);
      if (query.createdBefore !== undefined) add("created_at < ?", query.createdBefore);
      if (query.beforeId !== undefined) add("id < ?", query.beforeId);
      params.push(query.limit);
      const rows = await db.query<TaskRow>(
        `SELECT * FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(taskFromRow);
    },
    listEvents,
    async getTaskWithEvents(taskId, afterSequence) {
      const [row] = await db.query<TaskRow & { events: Uint8Array[] }>(
        `SELECT t.*, ARRAY(
           SELECT event FROM task_events WHERE task_id = t.id AND sequence > $2 ORDER BY sequence
         ) AS events
         FROM tasks t WHERE t.id = $1`,
        [taskId, Number(afterSequence)],
      );
      return (
        row && {
          task: taskFromRow(row),
          events: row.events.map((event) => fromBinary(TaskEventSchema, event)),
        }
      );
    },
    // Write on top of the task as the caller saw it, reading it only when that fails: no
    // lock is held across a round trip, and a writer that knows the task needs one.
    async appendEvent(event, expected, leaseOwner, current) {
      let task = current;
      for (;;) {
        const fresh = task === undefined;
        if (task === undefined) {
          const [row] = await db.query<LeasedTaskRow>("SELECT * FROM tasks WHERE id = $1", [
            event.taskId,
          ]);
          if (row === undefined || !expected.includes(row.state)) return undefined;
          if (leaseOwner !== undefined && row.lease_owner !== leaseOwner) return undefined;
          task = taskFromRow(row);
        }
        if (expected.includes(task.state)) {
          const appended = await append(db.query, task, event, { expected, leaseOwner });
          if (appended) return appended;
        } else if (fresh) {
          return undefined;
        }
        task = undefined;
      }
    },
    // A claim reserves the next tasks in turn among keys (see reserveInTurn), then starts each
    // as their reserver. A reserver that dies in between leaves leases that expire like any
    // other.
    async claimTasks(limit, start, lease, shares) {
      const claimed: AppendedEvent[] = [];
      const guard = { expected: [TaskState.QUEUED], leaseOwner: lease.owner, claim: lease };
      for (const row of await reserveInTurn(limit, lease, shares)) {
        const task = taskFromRow(row);
        const appended = await append(db.query, task, start(task), guard);
        // Otherwise it was cancelled in between.
        if (appended) claimed.push(appended);
      }
      return claimed;
    },
    async renewLeases(owner, taskIds, expiresAt) {
      if (taskIds.length === 0) return;
      await db.query(
        `UPDATE tasks SET lease_expires_at = $1
         WHERE id = ANY($2) AND lease_owner = $3 AND state = ${TaskState.RUNNING}`,
        [expiresAt, taskIds, owner],
      );
    },
    async takeOverTasks(expiredBefore, takeOver) {
      const taken: AppendedEvent[] = [];
      for (;;) {
        const next = await db.transaction(async (query) => {
          const [row] = await query<LeasedTaskRow>(
            `SELECT * FROM tasks
             WHERE state = ${TaskState.RUNNING} AND COALESCE(lease_expires_at, 0) < $1
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
            [expiredBefore],
          );
          if (row === undefined) return undefined;
          const task = taskFromRow(row);
          const guard = { expected: [TaskState.RUNNING] };
          const appended = await append(query, task, takeOver(task), guard);
          if (appended === undefined) throw new Error(`task ${row.id} changed under its row lock`);
          return appended;
        });
        if (next === undefined) return taken;
        taken.push(next);
      }
    },
    async countTasks(state) {
      const [row] = await db.query<{ n: number }>(
        "SELECT COALESCE(SUM(n), 0)::bigint AS n FROM task_state_counts WHERE state = $1",
        [state],
      );
      return row?.n ?? 0;
    },
    async countBacklog(keyId) {
      const [row] = await db.query<{ queued: number; unfinished: number; mine: boolean }>(
        `SELECT
           (SELECT COALESCE(SUM(n), 0) FROM task_state_counts WHERE state = ${TaskState.QUEUED})::bigint AS queued,
           (SELECT COALESCE(SUM(n), 0) FROM key_unfinished_counts WHERE key_id = $1)::bigint AS unfinished,
           EXISTS (SELECT 1 FROM tasks WHERE state = ${TaskState.QUEUED} AND key_id = $1) AS mine`,
        [keyId],
      );
      return {
        queued: row?.queued ?? 0,
        unfinishedOfKey: row?.unfinished ?? 0,
        keyHasQueued: row?.mine ?? false,
      };
    },
    onRemoteEvent(listener) {
      remoteListeners.add(listener);
      return () => remoteListeners.delete(listener);
    },
    onFeedGap(listener) {
      gapListeners.add(listener);
      return () => gapListeners.delete(listener);
    },
    onAvailability(listener) {
      availabilityListeners.add(listener);
      return () => availabilityListeners.delete(listener);
    },
    async close() {
      await feed.close();
      await db.close();
    },
  };
}
