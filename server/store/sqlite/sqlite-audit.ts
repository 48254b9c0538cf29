import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type Database from "better-sqlite3";
import { type AuditEvent, AuditEventSchema } from "../../../gen/noizylab/agent/v1/audit_pb.js";
import type { AuditStore } from "../audit-store.js";

interface AuditRow {
  id: number;
  time: number;
  key_id: string;
  procedure: string;
  task_type: string;
  task_id: string;
  peer_ip: string;
  country: string;
  user_agent: string;
  protocol: string;
  code: string;
  duration_ms: number;
  bytes_in: number;
  bytes_out: number;
  reason: string;
}

function eventFromRow(row: AuditRow): AuditEvent {
  return create(AuditEventSchema, {
    time: timestampFromMs(row.time),
    keyId: row.key_id,
    procedure: row.procedure,
    taskType: row.task_type,
    taskId: row.task_id,
    peerIp: row.peer_ip,
    country: row.country,
    userAgent: row.user_agent,
    protocol: row.protocol,
    code: row.code,
    durationMs: row.duration_ms,
    bytesIn: BigInt(row.bytes_in),
    bytesOut: BigInt(row.bytes_out),
    reason: row.reason,
  });
}

/** createSqliteAuditStore keeps the audit trail in the audit_events table. */
export function createSqliteAuditStore(db: Database.Database): AuditStore {
  const insert = db.prepare(
    `INSERT INTO audit_events (time, key_id, procedure, task_type, task_id, peer_ip, country, user_agent,
       protocol, code, duration_ms, bytes_in, bytes_out, reason)
     VALUES (@time, @keyId, @procedure, @taskType, @taskId, @peerIp, @country, @userAgent,
       @protocol, @code, @durationMs, @bytesIn, @bytesOut, @reason)`,
  );
  const insertAll = db.transaction((events: readonly AuditEvent[]) => {
    for (const event of events) {
      insert.run({
        ...event,
        time: event.time ? timestampMs(event.time) : Date.now(),
        bytesIn: Number(event.bytesIn),
        bytesOut: Number(event.bytesOut),
      });
    }
  });
  const purge = db.prepare("DELETE FROM audit_events WHERE time < ?");
  return {
    async insert(events) {
      insertAll.immediate(events);
    },
    async list(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, value: unknown) => {
        where.push(clause);
        params.push(value);
      };
      if (query.since !== undefined) add("time >= ?", query.since);
      if (query.until !== undefined) add("time < ?", query.until);
      if (query.keyId) add("key_id = ?", query.keyId);
      if (query.refusedOnly) add("reason != ?", "");
      if (query.beforeCursor !== undefined) add("id < ?", query.beforeCursor);
      const sql = `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
      const rows = db.prepare<unknown[], AuditRow>(sql).all(...params, query.limit + 1);
      const page = rows.slice(0, query.limit);
      return {
        events: page.map(eventFromRow),
        nextCursor: rows.length > query.limit ? page.at(-1)?.id : undefined,
      };
    },
    async purge(before) {
      return purge.run(before).changes;
    },
    // One instance uses a SQLite file: nobody else inserts.
    onRemoteInsert: () => () => {},
  };
}
