import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type Task,
  TaskErrorSchema,
  TaskResultSchema,
  TaskSchema,
  TaskSpecSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { valuesReader } from "./compiled-rows.js";

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

/**
 * scopedIdempotencyKey is an idempotency key as its column holds it: prefixed with the id of
 * the API key that submitted the task, so that the same idempotency key from two API keys
 * names two tasks. (Key ids never hold a colon.)
 */
export function scopedIdempotencyKey(keyId: string, idempotencyKey: string): string {
  return `${keyId}:${idempotencyKey}`;
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
    idempotencyKey: row.idempotency_key?.slice(row.key_id.length + 1) ?? "",
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

/** EventRow is the part of a task's row its events change; the rest is fixed at submit. */
export type EventRow = Pick<TaskRow, (typeof eventColumns)[number]>;

/** The columns of EventRow. */
export const eventColumns = [
  "state",
  "progress",
  "progress_note",
  "attempts",
  "started_at",
  "finished_at",
  "result",
  "error_code",
  "error_message",
  "last_sequence",
] as const satisfies readonly (keyof TaskRow)[];

/** eventRowFromTask writes the part of a task's row its events change. */
export function eventRowFromTask(task: Task): EventRow {
  return {
    state: task.state,
    progress: task.progress,
    progress_note: task.progressNote,
    attempts: task.attempts,
    started_at: task.startedAt ? timestampMs(task.startedAt) : null,
    finished_at: task.finishedAt ? timestampMs(task.finishedAt) : null,
    result: task.result ? toBinary(TaskResultSchema, task.result) : null,
    error_code: task.error ? task.error.code : null,
    error_message: task.error ? task.error.message : null,
    last_sequence: Number(task.lastSequence),
  };
}

/** rowFromTask writes a task as a row; `spec` is its spec, encoded (see NewTask.spec). */
export function rowFromTask(task: Task, spec: Uint8Array): TaskRow {
  return {
    id: task.id,
    type: task.type,
    spec,
    priority: task.priority,
    idempotency_key:
      task.idempotencyKey === "" ? null : scopedIdempotencyKey(task.keyId, task.idempotencyKey),
    timeout_ms: task.timeoutMs,
    created_at: task.createdAt ? timestampMs(task.createdAt) : Date.now(),
    key_id: task.keyId,
    ...eventRowFromTask(task),
  };
}

/** The columns of TaskRow: those fixed at submit, then those its events change. */
export const taskColumns = [
  "id",
  "type",
  "spec",
  "priority",
  "idempotency_key",
  "timeout_ms",
  "created_at",
  "key_id",
  ...eventColumns,
] as const satisfies readonly (keyof TaskRow)[];

/** The columns of LeasedTaskRow. */
export const leasedTaskColumns = [
  ...taskColumns,
  "lease_owner",
  "lease_expires_at",
] as const satisfies readonly (keyof LeasedTaskRow)[];

/** taskValues lists a task row's values in the order of taskColumns, for positional parameters. */
export const taskValues = valuesReader<TaskRow, (typeof taskColumns)[number]>(taskColumns);

/** eventValues lists an event row's values in the order of eventColumns. */
export const eventValues = valuesReader<EventRow, (typeof eventColumns)[number]>(eventColumns);
