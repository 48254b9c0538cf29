import { setTimeout as sleep } from "node:timers/promises";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Task,
  type TaskEvent,
  TaskResultSchema,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import type { AppendedEvent, Store } from "../store/store.js";
import type { TaskRegistry } from "../tasks/registry.js";
import type { TaskContext } from "../tasks/task-handler.js";
import type { EventBus } from "./event-bus.js";
import {
  errorEvent,
  progressEvent,
  resultEvent,
  stateChangeEvent,
  taskErrorOf,
} from "./task-events.js";

/** ExecutorOptions configures how queued tasks are run. */
export interface ExecutorOptions {
  readonly store: Store;
  readonly bus: EventBus;
  readonly registry: TaskRegistry;
  /** The most tasks running at once. */
  readonly maxConcurrentTasks: number;
  /** A task whose handler has started this many times is failed at recovery, not run again. */
  readonly maxAttempts: number;
  /** The largest result, in bytes, and the most a handler may inflate. */
  readonly maxOutputBytes: number;
  /** Where unexpected store errors are reported. */
  readonly onError: (error: unknown) => void;
}

/** Executor claims queued tasks, runs them with bounded concurrency and records the outcome. */
export interface Executor {
  /** recover requeues tasks that were running when the previous process died, then starts. */
  recover(): Promise<void>;
  /** wake looks for queued tasks to start; call it after submits. */
  wake(): void;
  /** record appends an event if the task is in an expected state, and publishes it. */
  record(event: TaskEvent, expected: readonly TaskState[]): Promise<AppendedEvent | undefined>;
  /** abort stops a running task's handler; its terminal event must already be recorded. */
  abort(taskId: string, reason: ConnectError): void;
  /**
   * drain stops starting tasks, waits up to graceMs for running ones, then requeues those
   * still running (for the next start) and stops their handlers.
   */
  drain(graceMs: number): Promise<void>;
  /** The number of tasks running now. */
  readonly runningCount: number;
}

interface Run {
  readonly task: Task;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** createExecutor makes the executor of an engine. */
export function createExecutor(options: ExecutorOptions): Executor {
  const { store, bus, registry } = options;
  const running = new Map<string, Run>();
  let draining = false;
  let pumping = false;
  let pumpAgain = false;

  async function record(event: TaskEvent, expected: readonly TaskState[]) {
    const appended = await store.appendEvent(event, expected);
    if (appended) bus.publish(appended.event, appended.task.type);
    return appended;
  }

  function abort(taskId: string, reason: ConnectError) {
    running.get(taskId)?.controller.abort(reason);
  }

  async function fail(taskId: string, code: Code, message: string) {
    const error = new ConnectError(message, code);
    await record(errorEvent(taskId, TaskState.FAILED, taskErrorOf(error)), [TaskState.RUNNING]);
    abort(taskId, error);
  }

  async function execute(task: Task, context: TaskContext): Promise<TaskEvent> {
    try {
      const result = await registry.run(task.spec as NonNullable<Task["spec"]>, context);
      const size = toBinary(TaskResultSchema, result).byteLength;
      if (size > options.maxOutputBytes) {
        throw new ConnectError(
          `result of ${size} bytes exceeds the ${options.maxOutputBytes}-byte message limit`,
          Code.ResourceExhausted,
        );
      }
      return resultEvent(task.id, result);
    } catch (reason) {
      return errorEvent(task.id, TaskState.FAILED, taskErrorOf(reason));
    }
  }

  function start(task: Task): void {
    const controller = new AbortController();
    const deadline = setTimeout(() => {
      fail(task.id, Code.DeadlineExceeded, `task ran past its ${task.timeoutMs} ms deadline`).catch(
        options.onError,
      );
    }, task.timeoutMs);
    // Progress reports are recorded one after another, in the order the handler made them.
    let progress = Promise.resolve();
    const context: TaskContext = {
      signal: controller.signal,
      maxOutputBytes: options.maxOutputBytes,
      progress(percent, note = "") {
        progress = progress
          .then(() => record(progressEvent(task.id, percent, note), [TaskState.RUNNING]))
          .then(() => undefined, options.onError);
      },
    };
    const done = (async () => {
      const outcome = await execute(task, context);
      clearTimeout(deadline);
      await progress;
      // A no-op when cancel, the deadline or a drain already ended this attempt.
      await record(outcome, [TaskState.RUNNING]).catch(options.onError);
      running.delete(task.id);
      wake();
    })();
    running.set(task.id, { task, controller, done });
  }

  async function pump(): Promise<void> {
    do {
      pumpAgain = false;
      while (!draining && running.size < options.maxConcurrentTasks) {
        const claimed = await store.claimNextTask((task) =>
          stateChangeEvent(task.id, TaskState.RUNNING, task.attempts + 1),
        );
        if (claimed === undefined) break;
        bus.publish(claimed.event, claimed.task.type);
        start(claimed.task);
      }
    } while (pumpAgain && !draining);
  }

  function wake(): void {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    pump()
      .catch(options.onError)
      .finally(() => {
        pumping = false;
      });
  }

  return {
    record,
    abort,
    wake,
    get runningCount() {
      return running.size;
    },
    async recover() {
      for (const taskId of await store.listTaskIds(TaskState.RUNNING)) {
        const task = await store.getTask(taskId);
        if (task === undefined) continue;
        const event =
          task.attempts >= options.maxAttempts
            ? errorEvent(
                taskId,
                TaskState.FAILED,
                taskErrorOf(
                  new ConnectError(
                    `gave up after ${task.attempts} attempts interrupted by restarts`,
                    Code.Aborted,
                  ),
                ),
              )
            : stateChangeEvent(taskId, TaskState.QUEUED, task.attempts, "requeued after restart");
        await record(event, [TaskState.RUNNING]);
      }
      wake();
    },
    async drain(graceMs) {
      draining = true;
      const finished = Promise.all([...running.values()].map((run) => run.done));
      const grace = new AbortController();
      await Promise.race([
        finished,
        sleep(graceMs, undefined, { signal: grace.signal }).catch(() => {}),
      ]);
      grace.abort();
      for (const [taskId, run] of running) {
        await record(
          stateChangeEvent(taskId, TaskState.QUEUED, run.task.attempts, "requeued at shutdown"),
          [TaskState.RUNNING],
        );
        run.controller.abort(new ConnectError("the server is shutting down", Code.Unavailable));
      }
      await finished;
    },
  };
}
