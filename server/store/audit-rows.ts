import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type AuditEvent, AuditEventSchema } from "../../gen/noizylab/agent/v1/audit_pb.js";

/** AuditRow is a row of the audit_events table, in every store engine. */
export interface AuditRow {
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
  task_owner_key_id: string;
}

/** eventFromRow reads an audit event from its row. */
export function eventFromRow(row: AuditRow): AuditEvent {
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
    taskOwnerKeyId: row.task_owner_key_id,
  });
}
