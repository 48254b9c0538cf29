import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  type Task,
  type TaskError,
  type TaskEvent,
  type TaskResult,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { errorEvent, firstEvent, resultEvent, stateChangeEvent } from "../engine/task-events.js";
import { isTerminal } from "./task-projection.js";

/**
 * A task's record implies its events while they are the engine's usual ones: queued at its
 * creation, started, finished with its result or error. Most tasks have no other, so a store
 * may keep those in the record alone (isImpliedEvent) and read them back (impliedEvents).
 */

/** impliedEvents are the events a task's record tells: its first, its start and its end. */
export function impliedEvents(task: Task): TaskEvent[] {
  const events = [firstEvent(task.id, task.createdAt as Timestamp)];
  if (task.startedAt !== undefined) {
    const start = stateChangeEvent(task.id, TaskState.RUNNING, task.attempts);
    start.time = task.startedAt;
    events.push(start);
  }
  if (isTerminal(task.state)) {
    const end =
      task.state === TaskState.SUCCEEDED
        ? resultEvent(task.id, task.result as TaskResult)
        : errorEvent(
            task.id,
            task.state as TaskState.FAILED | TaskState.CANCELLED,
            task.error as TaskError,
          );
    end.time = task.finishedAt;
    events.push(end);
  }
  events.forEach((event, index) => {
    event.sequence = BigInt(index + 1);
  });
  return events;
}

/**
 * isImpliedEvent tells whether an event is the last of impliedEvents(task), `task` being its
 * task after it (see applyEvent): whether its task's record keeps all it says. A time is kept
 * to the millisecond. It reads every field of TaskEvent (implied-events.test.ts fails when one
 * is added).
 */
export function isImpliedEvent(event: TaskEvent, task: Task): boolean {
  const { kind, time } = event;
  const implied = 1 + (task.startedAt === undefined ? 0 : 1) + (isTerminal(task.state) ? 1 : 0);
  if (event.taskId !== task.id || event.sequence !== BigInt(implied)) return false;
  switch (event.state) {
    case TaskState.QUEUED:
      return (
        kind.case === "stateChange" &&
        kind.value.attempt === 0 &&
        kind.value.reason === "" &&
        keptAs(time, task.createdAt)
      );
    case TaskState.RUNNING:
      return (
        kind.case === "stateChange" &&
        kind.value.attempt === task.attempts &&
        kind.value.reason === "" &&
        keptAs(time, task.startedAt)
      );
    case TaskState.SUCCEEDED:
      return kind.case === "result" && kind.value === task.result && keptAs(time, task.finishedAt);
    case TaskState.FAILED:
    case TaskState.CANCELLED:
      return kind.case === "error" && kind.value === task.error && keptAs(time, task.finishedAt);
    default:
      return false;
  }
}

/** keptAs tells whether an event's time is the record's, to the millisecond it keeps. */
function keptAs(time: Timestamp | undefined, recorded: Timestamp | undefined): boolean {
  return (
    time !== undefined &&
    recorded !== undefined &&
    time.seconds === recorded.seconds &&
    time.nanos === recorded.nanos &&
    time.nanos % 1_000_000 === 0
  );
}
