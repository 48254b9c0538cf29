import { timestampMs } from "@bufbuild/protobuf/wkt";
import type Database from "better-sqlite3";
import type { AuditEvent } from "../../../gen/noizylab/agent/v1/audit_pb.js";
import { type AuditRow, eventFromRow } from "../audit-rows.js";
import type { AuditStore } from "../audit-store.js";
import type { WriteBatcher } from "./write-batcher.js";

/**
 * createSqliteAuditStore keeps the audit trail in the audit_events table, written through the
 * store's batcher.
 */
export function createSqliteAuditStore(db: Database.Database, write: WriteBatcher): AuditStore {
  const insert = db.prepare(
    `INSERT INTO audit_events (time, key_id, procedure, task_type, task_id, peer_ip, country, user_agent,
       protocol, code, duration_ms, bytes_in, bytes_out, reason, task_owner_key_id)
     VALUES (@time, @keyId, @procedure, @taskType, @taskId, @peerIp, @country, @userAgent,
       @protocol, @code, @durationMs, @bytesIn, @bytesOut, @reason, @taskOwnerKeyId)`,
  );
  const insertAll = (events: readonly AuditEvent[]) => {
    for (const event of events) {
      insert.run({
        ...event,
        time: event.time ? timestampMs(event.time) : Date.now(),
        bytesIn: Number(event.bytesIn),
        bytesOut: Number(event.bytesOut),
      });
    }
  };
  const purge = db.prepare("DELETE FROM audit_events WHERE time < ?");
  return {
    async insert(events) {
      await write(() => insertAll(events));
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
      return write(() => purge.run(before).changes);
    },
    // One instance uses a SQLite file: nobody else inserts.
    onRemoteInsert: () => () => {},
  };
}
