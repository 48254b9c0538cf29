import { randomUUID } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Task,
  type TaskEvent,
  TaskEventSchema,
  TaskState,
} from "../../../gen/noizylab/agent/v1/task_pb.js";
import type {
  AppendedEvent,
  CommittedEventListener,
  InsertedTask,
  Lease,
  Store,
  TaskQuery,
} from "../store.js";
import { applyEvent } from "../task-projection.js";
import {
  type LeasedTaskRow,
  leaseOf,
  rowFromTask,
  type TaskRow,
  taskColumns,
  taskFromRow,
} from "../task-rows.js";
import { auditChannel, createPgAuditStore } from "./pg-audit.js";
import { createPgDatabase, type Query } from "./pg-database.js";
import { startPgFeed } from "./pg-feed.js";
import { createPgKeyStore } from "./pg-keys.js";
import { migrate } from "./pg-migrations.js";
import { createPgRateLimiter } from "./pg-rate-limiter.js";

/** PgStoreOptions configure the PostgreSQL store. */
export interface PgStoreOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  /** The most connections this instance opens for queries (the feed has one more). */
  readonly poolSize: number;
}

/** The NOTIFY channel committed task events travel on. */
const eventChannel = "cloudagent_task_events";
/** NOTIFY payloads must stay under 8,000 bytes; a larger event is sent by reference. */
const maxInlineEvent = 6_000;

/** A notification: the instance that committed the event, its task type, and the event or where to read it. */
interface EventNotice {
  readonly i: string;
  readonly t: string;
  readonly e?: string;
  readonly id?: string;
  readonly s?: number;
}

const columnList = taskColumns.join(", ");
const placeholders = taskColumns.map((_, index) => `$${index + 1}`).join(", ");
const valuesOf = (row: TaskRow) => taskColumns.map((column) => row[column]);

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
  const instanceId = randomUUID();
  const remoteListeners = new Set<CommittedEventListener>();
  const gapListeners = new Set<() => void>();
  const availabilityListeners = new Set<(available: boolean) => void>();

  function notice(event: TaskEvent, taskType: string): string {
    const bytes = toBinary(TaskEventSchema, event);
    const inline = Math.ceil(bytes.byteLength / 3) * 4 <= maxInlineEvent;
    const payload: EventNotice = inline
      ? { i: instanceId, t: taskType, e: Buffer.from(bytes).toString("base64") }
      : { i: instanceId, t: taskType, id: event.taskId, s: Number(event.sequence) };
    return JSON.stringify(payload);
  }

  async function receiveEvent(payload: string): Promise<void> {
    const notice = JSON.parse(payload) as EventNotice;
    if (notice.i === instanceId || remoteListeners.size === 0) return;
    let event: TaskEvent | undefined;
    if (notice.e !== undefined) {
      event = fromBinary(TaskEventSchema, Buffer.from(notice.e, "base64"));
    } else if (notice.id !== undefined && notice.s !== undefined) {
      [event] = await listEvents(notice.id, BigInt(notice.s - 1));
    }
    if (event) for (const listener of remoteListeners) listener(event, notice.t);
  }

  const audit = createPgAuditStore(db, instanceId);
  const feed = await startPgFeed({
    url: options.url,
    channels: [eventChannel, auditChannel],
    onNotification: (channel, payload) => {
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
      for (const listener of gapListeners) listener();
    },
  }).catch(async (error) => {
    await db.close();
    throw error;
  });

  /** storeEvent stores a numbered event and announces it to the other instances. */
  async function storeEvent(query: Query, event: TaskEvent, taskType: string): Promise<void> {
    await query(
      `WITH stored AS (INSERT INTO task_events (task_id, sequence, event) VALUES ($1, $2, $3))
       SELECT pg_notify($4, $5)`,
      [
        event.taskId,
        Number(event.sequence),
        toBinary(TaskEventSchema, event),
        eventChannel,
        notice(event, taskType),
      ],
    );
  }

  /** writeRow writes a task's row with its lease (none when undefined). */
  async function writeRow(query: Query, task: Task, lease: Lease | undefined): Promise<void> {
    await query(
      `UPDATE tasks SET (${columnList}, lease_owner, lease_expires_at)
         = (${placeholders}, $${taskColumns.length + 1}, $${taskColumns.length + 2})
       WHERE id = $1`,
      [...valuesOf(rowFromTask(task)), lease?.owner ?? null, lease?.expiresAt ?? null],
    );
  }

  /** append applies an event to a locked row and writes both. */
  async function append(
    query: Query,
    row: LeasedTaskRow,
    event: TaskEvent,
    claim?: Lease,
  ): Promise<AppendedEvent> {
    const before = taskFromRow(row);
    event.sequence = before.lastSequence + 1n;
    const task = applyEvent(before, event);
    await storeEvent(query, event, task.type);
    // The row changes last, just before the commit: its update takes the counters' row
    // locks, which every transaction changing a task's state needs.
    await writeRow(query, task, leaseOf(task, row, claim));
    return { task, event };
  }

  async function listEvents(taskId: string, afterSequence: bigint): Promise<TaskEvent[]> {
    const rows = await db.query<{ event: Uint8Array }>(
      "SELECT event FROM task_events WHERE task_id = $1 AND sequence > $2 ORDER BY sequence",
      [taskId, Number(afterSequence)],
    );
    return rows.map((row) => fromBinary(TaskEventSchema, row.event));
  }

  return {
    keys: createPgKeyStore(db),
    audit,
    shared: true,
    rateLimiter: createPgRateLimiter(db),
    insertTasks: (tasks) =>
      db.transaction(async (query) => {
        const inserted: InsertedTask[] = [];
        for (const { task, event } of tasks) {
          const created = await query(
            `INSERT INTO tasks (${columnList}) VALUES (${placeholders})
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
            valuesOf(rowFromTask(task)),
          );
          if (created.length === 1) {
            await storeEvent(query, event, task.type);
            inserted.push({ task, created: true });
            continue;
          }
          const [existing] = await query<TaskRow>(
            "SELECT * FROM tasks WHERE idempotency_key = $1",
            [task.idempotencyKey],
          );
          if (existing === undefined)
            throw new Error(`task ${task.id} was neither inserted nor found`);
          inserted.push({ task: taskFromRow(existing), created: false });
        }
        return inserted;
      }),
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
    appendEvent: (event, expected, leaseOwner) =>
      db.transaction(async (query) => {
        const [row] = await query<LeasedTaskRow>("SELECT * FROM tasks WHERE id = $1 FOR UPDATE", [
          event.taskId,
        ]);
        if (row === undefined || !expected.includes(row.state)) return undefined;
        if (leaseOwner !== undefined && row.lease_owner !== leaseOwner) return undefined;
        return append(query, row, event);
      }),
    claimNextTask: (start, lease) =>
      db.transaction(async (query) => {
        const [row] = await query<LeasedTaskRow>(
          `SELECT * FROM tasks WHERE state = ${TaskState.QUEUED}
           ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        return row && append(query, row, start(taskFromRow(row)), lease);
      }),
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
          return row && append(query, row, takeOver(taskFromRow(row)));
        });
        if (next === undefined) return taken;
        taken.push(next);
      }
    },
    async listTaskIds(state) {
      const rows = await db.query<{ id: string }>(
        "SELECT id FROM tasks WHERE state = $1 ORDER BY id",
        [state],
      );
      return rows.map((row) => row.id);
    },
    async countTasks(state) {
      const [row] = await db.query<{ n: number }>(
        "SELECT n FROM task_state_counts WHERE state = $1",
        [state],
      );
      return row?.n ?? 0;
    },
    async countUnfinishedTasks(keyId) {
      const [row] = await db.query<{ n: number }>(
        "SELECT n FROM key_unfinished_counts WHERE key_id = $1",
        [keyId],
      );
      return row?.n ?? 0;
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
