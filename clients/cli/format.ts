import { type Registry, toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type Task,
  type TaskEvent,
  TaskEventSchema,
  TaskResultSchema,
  TaskSchema,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";

/** stateName is a task state in lowercase words: TASK_STATE_SUCCEEDED is "succeeded". */
export function stateName(state: TaskState): string {
  return (TaskState[state] ?? String(state)).toLowerCase();
}

/** parseState reads a state name as the CLI takes it ("running", or "TASK_STATE_RUNNING"). */
export function parseState(name: string): TaskState {
  const key = name.toUpperCase().replace(/^TASK_STATE_/, "") as keyof typeof TaskState;
  const state = TaskState[key];
  if (typeof state !== "number" || state === TaskState.UNSPECIFIED) {
    throw new Error(
      `unknown state ${JSON.stringify(name)}: use queued, running, succeeded, failed or cancelled`,
    );
  }
  return state;
}

// Plugin tasks' inputs and results are Any messages: `types` holds their message types.

/** taskJson is a task in the Protobuf JSON mapping, on one line. */
export function taskJson(task: Task, types?: Registry): string {
  return JSON.stringify(toJson(TaskSchema, task, { registry: types }));
}

/** eventJson is an event in the Protobuf JSON mapping, on one line. */
export function eventJson(event: TaskEvent, types?: Registry): string {
  return JSON.stringify(toJson(TaskEventSchema, event, { registry: types }));
}

/** describeTask is a task for people: one field per line. */
export function describeTask(task: Task, types?: Registry): string {
  const rows: [string, string][] = [
    ["id", task.id],
    ["type", task.type],
    ["state", stateName(task.state)],
    [
      "progress",
      `${Math.round(task.progress)}%${task.progressNote ? ` ${task.progressNote}` : ""}`,
    ],
    ["priority", String(task.priority)],
    ["attempts", String(task.attempts)],
  ];
  if (task.idempotencyKey) rows.push(["key", task.idempotencyKey]);
  if (task.createdAt) rows.push(["created", timestampDate(task.createdAt).toISOString()]);
  if (task.startedAt) rows.push(["started", timestampDate(task.startedAt).toISOString()]);
  if (task.finishedAt) rows.push(["finished", timestampDate(task.finishedAt).toISOString()]);
  if (task.result) {
    rows.push([
      "result",
      JSON.stringify(toJson(TaskResultSchema, task.result, { registry: types })),
    ]);
  }
  if (task.error) rows.push(["error", `${task.error.code}: ${task.error.message}`]);
  return rows.map(([name, value]) => `${name.padEnd(9)}${value}`).join("\n");
}

/** describeEvent is an event for people, on one line. */
export function describeEvent(event: TaskEvent, types?: Registry): string {
  const head = `#${event.sequence} ${stateName(event.state)}`;
  switch (event.kind.case) {
    case "progress":
      return `${head} ${Math.round(event.kind.value.percent)}% ${event.kind.value.note}`.trimEnd();
    case "result":
      return `${head} ${JSON.stringify(toJson(TaskResultSchema, event.kind.value, { registry: types }))}`;
    case "error":
      return `${head} ${event.kind.value.code}: ${event.kind.value.message}`;
    case "stateChange":
      return `${head}${event.kind.value.reason ? ` (${event.kind.value.reason})` : ""}`;
    default:
      return head;
  }
}

/** describeRow is a task as one line of `cloudagent list`. */
export function describeRow(task: Task): string {
  const created = task.createdAt ? timestampDate(task.createdAt).toISOString() : "";
  return `${task.id}  ${task.type.padEnd(10)} ${stateName(task.state).padEnd(10)} ${created}`;
}
