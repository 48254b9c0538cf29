import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { AuditEvent } from "../../../gen/noizylab/agent/v1/audit_pb.js";
import { type AuditRow, eventFromRow } from "../audit-rows.js";
import type { AuditStore } from "../audit-store.js";
import type { PgDatabase } from "./pg-database.js";

const columns = [
  "time",
  "key_id",
  "procedure",
  "task_type",
  "task_id",
  "peer_ip",
  "country",
  "user_agent",
  "protocol",
  "code",
  "duration_ms",
  "bytes_in",
  "bytes_out",
  "reason",
  "task_owner_key_id",
];

/** A statement holds at most 65,535 parameters: 1,000 rows of 15 columns stay well below. */
const rowsPerStatement = 1_000;

function valuesOf(event: AuditEvent): unknown[] {
  return [
    event.time ? timestampMs(event.time) : Date.now(),
    event.keyId,
    event.procedure,
    event.taskType,
    event.taskId,
    event.peerIp,
    event.country,
    event.userAgent,
    event.protocol,
    event.code,
    event.durationMs,
    Number(event.bytesIn),
    Number(event.bytesOut),
    event.reason,
    event.taskOwnerKeyId,
  ];
}

/** The NOTIFY channel that tells other instances which audit events were inserted. */
export const auditChannel = "cloudagent_audit";
/** Ids per notification: a payload must stay under 8,000 bytes. */
const idsPerNotice = 400;

/** A notification: the instance that inserted the events, and their ids. */
interface AuditNotice {
  readonly i: string;
  readonly ids: readonly number[];
}

/** PgAuditStore is the audit trail in PostgreSQL, told of other instances' inserts. */
export interface PgAuditStore extends AuditStore {
  /** receive handles a notification of the audit channel. */
  receive(payload: string): Promise<void>;
}

/**
 * createPgAuditStore keeps the audit trail of every instance in the audit_events table. An
 * insert announces its rows' ids; other instances read those rows when told, so their
 * realtime audit channel shows every instance's requests.
 */
export function createPgAuditStore(db: PgDatabase, instanceId: string): PgAuditStore {
  const listeners = new Set<(events: AuditEvent[]) => void>();
  return {
    async insert(events) {
      await db.transaction(async (query) => {
        // A statement per chunk of rows, its parameters numbered $1, $2, … in column order.
        for (let start = 0; start < events.length; start += rowsPerStatement) {
          const chunk = events.slice(start, start + rowsPerStatement);
          const rows = chunk.map(
            (_, row) =>
              `(${columns.map((_, column) => `$${row * columns.length + column + 1}`).join(", ")})`,
          );
          const inserted = await query<{ id: number }>(
            `INSERT INTO audit_events (${columns.join(", ")}) VALUES ${rows.join(", ")} RETURNING id`,
            chunk.flatMap(valuesOf),
          );
          const ids = inserted.map((row) => row.id);
          for (let at = 0; at < ids.length; at += idsPerNotice) {
            const notice: AuditNotice = { i: instanceId, ids: ids.slice(at, at + idsPerNotice) };
            await query("SELECT pg_notify($1, $2)", [auditChannel, JSON.stringify(notice)]);
          }
        }
      });
    },
    async receive(payload) {
      const notice = JSON.parse(payload) as AuditNotice;
      if (notice.i === instanceId || listeners.size === 0) return;
      const rows = await db.query<AuditRow>(
        "SELECT * FROM audit_events WHERE id = ANY($1) ORDER BY id",
        [notice.ids],
      );
      const events = rows.map(eventFromRow);
      for (const listener of listeners) listener(events);
    },
    onRemoteInsert(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async list(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, value: unknown) => {
        params.push(value);
        where.push(clause.replace("?", `$${params.length}`));
      };
      if (query.since !== undefined) add("time >= ?", query.since);
      if (query.until !== undefined) add("time < ?", query.until);
      if (query.keyId) add("key_id = ?", query.keyId);
      if (query.refusedOnly) add("reason <> ?", "");
      if (query.beforeCursor !== undefined) add("id < ?", query.beforeCursor);
      params.push(query.limit + 1);
      const rows = await db.query<AuditRow>(
        `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      const page = rows.slice(0, query.limit);
      return {
        events: page.map(eventFromRow),
        nextCursor: rows.length > query.limit ? page.at(-1)?.id : undefined,
      };
    },
    async purge(before) {
      const [row] = await db.query<{ n: number }>(
        "WITH gone AS (DELETE FROM audit_events WHERE time < $1 RETURNING 1) SELECT COUNT(*) AS n FROM gone",
        [before],
      );
      return row?.n ?? 0;
    },
  };
}
