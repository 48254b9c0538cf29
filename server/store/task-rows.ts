import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type Task,
  TaskErrorSchema,
  TaskResultSchema,
  TaskSchema,
  TaskSpecSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";

/** TaskRow is a row of the tasks table. */
export interface TaskRow {
  id: string;
  type: string;
  spec: Uint8Array;
  state: number;
  progress: number;
  progress_note: string;
  priority: number;
  idempotency_key: string | null;
  attempts: number;
  timeout_ms: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: Uint8Array | null;
  error_code: string | null;
  error_message: string | null;
  last_sequence: number;
  key_id: string;
}

/** LeasedTaskRow is a row of the tasks table with its lease columns. */
export interface LeasedTaskRow extends TaskRow {
  lease_owner: string | null;
  lease_expires_at: number | null;
}

/** taskFromRow reads a task from its row. */
export function taskFromRow(row: TaskRow): Task {
  return create(TaskSchema, {
    id: row.id,
    type: row.type,
    spec: fromBinary(TaskSpecSchema, row.spec),
    state: row.state,
    progress: row.progress,
    progressNote: row.progress_note,
    priority: row.priority,
    idempotencyKey: row.idempotency_key ?? "",
    attempts: row.attempts,
    timeoutMs: row.timeout_ms,
    createdAt: timestampFromMs(row.created_at),
    startedAt: row.started_at === null ? undefined : timestampFromMs(row.started_at),
    finishedAt: row.finished_at === null ? undefined : timestampFromMs(row.finished_at),
    result: row.result === null ? undefined : fromBinary(TaskResultSchema, row.result),
    error:
      row.error_code === null
        ? undefined
        : create(TaskErrorSchema, { code: row.error_code, message: row.error_message ?? "" }),
    lastSequence: BigInt(row.last_sequence),
    keyId: row.key_id,
  });
}

/** rowFromTask writes a task as a row. */
export function rowFromTask(task: Task): TaskRow {
  return {
    id: task.id,
    type: task.type,
    spec: toBinary(TaskSpecSchema, task.spec ?? create(TaskSpecSchema)),
    state: task.state,
    progress: task.progress,
    progress_note: task.progressNote,
    priority: task.priority,
    idempotency_key: task.idempotencyKey === "" ? null : task.idempotencyKey,
    attempts: task.attempts,
    timeout_ms: task.timeoutMs,
    created_at: task.createdAt ? timestampMs(task.createdAt) : Date.now(),
    started_at: task.startedAt ? timestampMs(task.startedAt) : null,
    finished_at: task.finishedAt ? timestampMs(task.finishedAt) : null,
    result: task.result ? toBinary(TaskResultSchema, task.result) : null,
    error_code: task.error ? task.error.code : null,
    error_message: task.error ? task.error.message : null,
    last_sequence: Number(task.lastSequence),
    key_id: task.keyId,
  };
}

/** The columns of TaskRow, in table order. */
export const taskColumns = [
  "id",
  "type",
  "spec",
  "state",
  "progress",
  "progress_note",
  "priority",
  "idempotency_key",
  "attempts",
  "timeout_ms",
  "created_at",
  "started_at",
  "finished_at",
  "result",
  "error_code",
  "error_message",
  "last_sequence",
  "key_id",
] as const satisfies readonly (keyof TaskRow)[];
