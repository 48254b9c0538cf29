import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  type Task,
  TaskErrorSchema,
  type TaskEvent,
  TaskEventSchema,
  TaskResultSchema,
  TaskSchema,
  TaskState,
  TaskStateChangeSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import {
  errorEvent,
  firstEvent,
  progressEvent,
  resultEvent,
  stateChangeEvent,
} from "../engine/task-events.js";
import { impliedEvents, isImpliedEvent } from "./implied-events.js";
import { applyEvent } from "./task-projection.js";

const createdAt = timestampFromMs(1_700_000_000_123);
const queued = create(TaskSchema, {
  id: "t",
  state: TaskState.QUEUED,
  createdAt,
  lastSequence: 1n,
});
const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "hi" } } });
const failure = create(TaskErrorSchema, { code: "internal", message: "broke" });

/** then applies an event to a task, numbered as a store numbers it. */
function then(task: Task, event: TaskEvent): Task {
  event.sequence = task.lastSequence + 1n;
  return applyEvent(task, event);
}

describe("implied events", () => {
  it("implies the engine's usual events, and reads each back as it was", () => {
    const first = firstEvent("t", createdAt);
    const start = stateChangeEvent("t", TaskState.RUNNING, 1);
    const running = then(queued, start);
    for (const end of [
      resultEvent("t", result),
      errorEvent("t", TaskState.FAILED, failure),
      errorEvent("t", TaskState.CANCELLED, failure),
    ]) {
      const ended = then(running, end);
      expect(isImpliedEvent(end, ended)).toBe(true);
      expect(impliedEvents(ended)).toEqual([first, start, end]);
    }
    expect(isImpliedEvent(first, queued)).toBe(true);
    expect(isImpliedEvent(start, running)).toBe(true);
    expect(impliedEvents(running)).toEqual([first, start]);
    const cancel = errorEvent("t", TaskState.CANCELLED, failure);
    const cancelled = then(queued, cancel);
    expect(isImpliedEvent(cancel, cancelled)).toBe(true);
    expect(impliedEvents(cancelled)).toEqual([first, cancel]);
  });

  it("implies no other event", () => {
    const running = then(queued, stateChangeEvent("t", TaskState.RUNNING, 1));
    const unlike: [TaskEvent, Task][] = [];
    const said = stateChangeEvent("t", TaskState.QUEUED, 0, "imported");
    said.sequence = 1n;
    said.time = createdAt;
    unlike.push([said, queued]);
    const later = firstEvent("t", timestampFromMs(1_700_000_000_124));
    unlike.push([later, queued]);
    const elsewhere = firstEvent("u", createdAt);
    unlike.push([elsewhere, queued]);
    const numbered = firstEvent("t", createdAt);
    numbered.sequence = 2n;
    unlike.push([numbered, queued]);
    const explained = stateChangeEvent("t", TaskState.RUNNING, 1, "retried");
    unlike.push([explained, then(queued, explained)]);
    // A time finer than the record keeps.
    const fine = stateChangeEvent("t", TaskState.RUNNING, 1);
    fine.time = { ...createdAt, nanos: createdAt.nanos + 1 };
    unlike.push([fine, then(queued, fine)]);
    const progress = progressEvent("t", 50, "half");
    unlike.push([progress, then(running, progress)]);
    const requeue = stateChangeEvent("t", TaskState.QUEUED, 1, "requeued after restart");
    const requeued = then(running, requeue);
    unlike.push([requeue, requeued]);
    const again = stateChangeEvent("t", TaskState.RUNNING, 2);
    unlike.push([again, then(requeued, again)]);
    // A result its task does not hold.
    const other = resultEvent("t", result);
    const ended = then(running, other);
    const kept = create(TaskResultSchema, { result: { case: "echo", value: { text: "kept" } } });
    unlike.push([other, { ...ended, result: kept }]);
    expect(unlike.map(([event, task]) => isImpliedEvent(event, task))).toEqual(
      unlike.map(() => false),
    );
  });

  it("reads every field an implied event has: one added to them must be read too", () => {
    expect(TaskEventSchema.fields.map((f) => f.localName)).toEqual([
      "taskId",
      "sequence",
      "time",
      "state",
      "stateChange",
      "progress",
      "result",
      "error",
    ]);
    expect(TaskStateChangeSchema.fields.map((f) => f.localName)).toEqual(["attempt", "reason"]);
    // A task's row keeps its error's code and message (see TaskRow).
    expect(TaskErrorSchema.fields.map((f) => f.localName)).toEqual(["code", "message"]);
  });
});
