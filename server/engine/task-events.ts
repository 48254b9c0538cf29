import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import {
  type TaskError,
  TaskErrorSchema,
  type TaskEvent,
  TaskEventSchema,
  type TaskResult,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";

// The store numbers events when it appends them; 0 marks one not yet numbered.
const unnumbered = 0n;

/** stateChangeEvent records that a task entered a non-terminal state. */
export function stateChangeEvent(
  taskId: string,
  state: TaskState.QUEUED | TaskState.RUNNING,
  attempt: number,
  reason = "",
): TaskEvent {
  return create(TaskEventSchema, {
    taskId,
    sequence: unnumbered,
    time: timestampNow(),
    state,
    kind: { case: "stateChange", value: { attempt, reason } },
  });
}

/** firstEvent is a task's first event: queued, numbered 1, at the task's creation time. */
export function firstEvent(taskId: string, createdAt: Timestamp): TaskEvent {
  const event = stateChangeEvent(taskId, TaskState.QUEUED, 0);
  event.sequence = 1n;
  event.time = createdAt;
  return event;
}

/** progressEvent records a handler's progress report, clamped to 0–100. */
export function progressEvent(taskId: string, percent: number, note: string): TaskEvent {
  const clamped = Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
  return create(TaskEventSchema, {
    taskId,
    time: timestampNow(),
    state: TaskState.RUNNING,
    kind: { case: "progress", value: { percent: clamped, note } },
  });
}

/** resultEvent records that a task succeeded. */
export function resultEvent(taskId: string, result: TaskResult): TaskEvent {
  return create(TaskEventSchema, {
    taskId,
    time: timestampNow(),
    state: TaskState.SUCCEEDED,
    kind: { case: "result", value: result },
  });
}

/** errorEvent records that a task failed or was cancelled. */
export function errorEvent(
  taskId: string,
  state: TaskState.FAILED | TaskState.CANCELLED,
  error: TaskError,
): TaskEvent {
  return create(TaskEventSchema, {
    taskId,
    time: timestampNow(),
    state,
    kind: { case: "error", value: error },
  });
}

/** taskErrorOf turns whatever a handler threw into a TaskError: unknown errors are internal. */
export function taskErrorOf(reason: unknown): TaskError {
  const error = ConnectError.from(reason, Code.Internal);
  return create(TaskErrorSchema, { code: codeToString(error.code), message: error.rawMessage });
}
