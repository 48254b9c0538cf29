import { type Task, type TaskEvent, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";

/** isTerminal tells whether a task in this state has finished for good. */
export function isTerminal(state: TaskState): boolean {
  return (
    state === TaskState.SUCCEEDED || state === TaskState.FAILED || state === TaskState.CANCELLED
  );
}

/**
 * applyEvent returns the task as it stands after the event: the one place that says how
 * each kind of event changes a task's record, for every store engine.
 */
export function applyEvent(task: Task, event: TaskEvent): Task {
  // A shallow copy: the nested messages it shares with the task are never changed in place.
  const next: Task = { ...task };
  next.state = event.state;
  next.lastSequence = event.sequence;
  switch (event.kind.case) {
    case "stateChange":
      next.attempts = event.kind.value.attempt;
      if (event.state === TaskState.RUNNING) {
        next.startedAt = event.time;
        next.progress = 0;
        next.progressNote = "";
      }
      break;
    case "progress":
      next.progress = event.kind.value.percent;
      next.progressNote = event.kind.value.note;
      break;
    case "result":
      next.result = event.kind.value;
      next.progress = 100;
      next.finishedAt = event.time;
      break;
    case "error":
      next.error = event.kind.value;
      next.finishedAt = event.time;
      break;
  }
  return next;
}
