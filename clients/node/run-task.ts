import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import {
  type TaskEvent,
  type TaskProgress,
  TaskSpecSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import type { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import type { ResultMessage, SpecField, SpecInit } from "../shared/task-types.js";

/** TaskInit is a task to run: its type (the TaskSpec field) and its input. */
export interface TaskInit<K extends SpecField> {
  readonly case: K;
  readonly value: SpecInit<K>;
}

/** RunOptions tune a run. */
export interface RunOptions {
  /** Called with each progress report. */
  readonly onProgress?: (progress: TaskProgress, event: TaskEvent) => void;
  /** Called with every event, progress or not. */
  readonly onEvent?: (event: TaskEvent) => void;
  /** Aborting stops following the task; it does not cancel it (use CancelTask for that). */
  readonly signal?: AbortSignal;
  /** Higher runs first: 0 to 100. */
  readonly priority?: number;
  /** Makes the submit idempotent: a second run with the same key follows the first task. */
  readonly idempotencyKey?: string;
  /** How long one attempt may run, in milliseconds. */
  readonly timeoutMs?: number;
  /** How many times to resume after the stream breaks; 3 by default. */
  readonly maxResumes?: number;
}

/** The end of a task: its result, or its error as a ConnectError. */
type Outcome<K extends SpecField> = { result: ResultMessage<K> } | { error: ConnectError };

function outcomeOf<K extends SpecField>(field: K, event: TaskEvent): Outcome<K> | undefined {
  const kind = event.kind;
  if (kind.case === "error") {
    const code = codeFromString(kind.value.code) ?? Code.Unknown;
    return { error: new ConnectError(`task ${event.taskId}: ${kind.value.message}`, code) };
  }
  if (kind.case !== "result") return undefined;
  if (kind.value.result.case !== field) {
    const message = `task ${event.taskId} returned a ${kind.value.result.case} result, expected ${field}`;
    return { error: new ConnectError(message, Code.Internal) };
  }
  return { result: kind.value.result.value } as Outcome<K>;
}

const resumeDelayMs = 250;

function resumable(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  // DeadlineExceeded: the server ends watch streams that stay idle too long, and says where to resume.
  return (
    code === Code.Unavailable ||
    code === Code.Unknown ||
    code === Code.Internal ||
    code === Code.DeadlineExceeded
  );
}

/** runTask is AgentClient.run: Run, then WatchTask from the last event if the stream breaks. */
export async function runTask<K extends SpecField>(
  tasks: Client<typeof TaskService>,
  task: TaskInit<K>,
  options: RunOptions = {},
): Promise<ResultMessage<K>> {
  const spec = create(TaskSpecSchema, { task: task as never });
  let taskId: string | undefined;
  let last = 0n;
  let resumes = options.maxResumes ?? 3;
  const callOptions = options.signal ? { signal: options.signal } : {};
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) await sleep(resumeDelayMs * attempt, undefined, callOptions);
    const stream =
      taskId === undefined
        ? tasks.run(
            {
              spec,
              priority: options.priority,
              idempotencyKey: options.idempotencyKey ?? "",
              timeoutMs: options.timeoutMs ?? 0,
            },
            callOptions,
          )
        : tasks.watchTask({ taskId, afterSequence: last }, callOptions);
    let outcome: Outcome<K> | undefined;
    try {
      for await (const { event } of stream) {
        if (event === undefined) continue;
        taskId = event.taskId;
        last = event.sequence;
        options.onEvent?.(event);
        if (event.kind.case === "progress") options.onProgress?.(event.kind.value, event);
        // Read on after the last event rather than break: the server ends the stream right
        // away, and a stream left open would keep its HTTP/2 connection (and the process) alive.
        outcome ??= outcomeOf(task.case, event);
      }
    } catch (error) {
      const canResume = taskId !== undefined && !options.signal?.aborted && resumable(error);
      if (!canResume || resumes-- <= 0) throw error;
      continue;
    }
    if (outcome && "result" in outcome) return outcome.result;
    if (outcome) throw outcome.error;
    // The stream ended without the task's last event, as when the server shuts down.
    if (taskId === undefined || resumes-- <= 0) {
      throw new ConnectError(
        `the stream ended before task ${taskId ?? "(not yet queued)"} finished`,
        Code.Unavailable,
      );
    }
  }
}
