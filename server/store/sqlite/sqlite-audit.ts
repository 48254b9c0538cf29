import { timestampMs } from "@bufbuild/protobuf/wkt";
import type Database from "better-sqlite3";
import type { AuditEvent } from "../../../gen/noizylab/agent/v1/audit_pb.js";
import { type AuditRow, eventFromRow } from "../audit-rows.js";
import type { AuditStore } from "../audit-store.js";

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
