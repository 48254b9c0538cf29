import { setTimeout as sleep } from "node:timers/promises";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Task,
  type TaskEvent,
  TaskResultSchema,
  type TaskSpec,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import type { AppendedEvent, InsertedTask, NewTask, Store } from "../store/store.js";
import type { TaskRegistry } from "../tasks/registry.js";
import type { TaskContext } from "../tasks/task-handler.js";
import type { EventBus } from "./event-bus.js";
import type { DurationStats } from "./routing.js";
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
  /** The most tasks running at once, pure ones run as they are submitted aside. */
  readonly maxConcurrentTasks: number;
  /** The most tasks of one API key running at once; the slots are shared in turn among keys. */
  readonly maxRunningTasksPerKey: number;
  /** A task whose handler has started this many times is failed at recovery, not run again. */
  readonly maxAttempts: number;
  /** The largest result, in bytes, and the most a handler may inflate. */
  readonly maxOutputBytes: number;
  /** This agent instance's name in the leases of the tasks it runs. */
  readonly instanceId: string;
  /**
   * How long a claimed task's lease lasts; the executor renews its leases three times as
   * often. Another instance takes a task over once its lease has expired.
   */
  readonly leaseMs: number;
  /** Sends handlers' HTTP requests (see TaskContext.request). */
  readonly request?: TaskContext["request"];
  /** Where the durations of tasks run here are recorded. */
  readonly durations: DurationStats;
  /** Where unexpected store errors are reported. */
  readonly onError: (error: unknown) => void;
}

/**
 * Executor admits new tasks (running pure ones at once), claims queued tasks, runs them with
 * bounded concurrency and records the outcome.
 */
export interface Executor {
  /**
   * recover requeues tasks that were running when their instance died, then starts running
   * tasks and renewing leases. It goes on taking over tasks of dead instances while it runs.
   */
  recover(): Promise<void>;
  /**
   * admit commits new tasks (all of one API key) and publishes their events. While no task
   * of their key waits (`keyHasQueued`, as the caller last read it), a pure task that runs
   * on the event loop (see TaskRegistry.runsAsSubmitted) runs first, and is committed
   * finished; the others are queued. A pure task takes no slot: quick, it is held up neither
   * by slow tasks filling them nor by other keys' backlogs.
   */
  admit(tasks: readonly NewTask[], keyHasQueued: boolean): Promise<InsertedTask[]>;
  /** wake looks for queued tasks to start; call it when tasks may have been queued. */
  wake(): void;
  /**
   * record appends an event if the task is in an expected state, and publishes it; current
   * is the task as the caller last read it (see Store.appendEvent).
   */
  record(
    event: TaskEvent,
    expected: readonly TaskState[],
    leaseOwner?: string,
    current?: Task,
  ): Promise<AppendedEvent | undefined>;
  /** isRunning tells whether a task's handler runs here now. */
  isRunning(taskId: string): boolean;
  /** abort stops a task's handler if it runs here; its terminal event must already be recorded. */
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
  /** The task as this instance last wrote it, for the store to write the next event on. */
  current: Task;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/**
 * PureTaskContext is the context of a pure task's run (see TaskHandler.pure): a class, as
 * every such submit makes one. Its signal, made when asked for, never aborts.
 */
class PureTaskContext implements TaskContext {
  readonly taskId: string;
  readonly keyId: string;
  readonly maxOutputBytes: number;
  readonly #type: string;
  #controller: AbortController | undefined;

  constructor(task: Task, maxOutputBytes: number) {
    this.taskId = task.id;
    this.keyId = task.keyId;
    this.maxOutputBytes = maxOutputBytes;
    this.#type = task.type;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  progress(): void {
    throw new Error(`${this.#type} is declared pure, and reports progress`);
  }
}

/** createExecutor makes the executor of an engine. */
export function createExecutor(options: ExecutorOptions): Executor {
  const { store, bus, registry, instanceId } = options;
  const running = new Map<string, Run>();
  // Tasks running here by key, and the key whose task was claimed last: the claims' shares.
  const runningOfKey = new Map<string, number>();
  let lastServed: string | undefined;
  const countRunning = (keyId: string, change: number) => {
    const now = (runningOfKey.get(keyId) ?? 0) + change;
    if (now === 0) runningOfKey.delete(keyId);
    else runningOfKey.set(keyId, now);
  };
  let draining = false;
  let pumpState: "idle" | "scheduled" | "pumping" = "idle";
  let pumpAgain = false;
  // Whether a queued task may be waiting: false once a claim found none, until the next wake
  // (a finished task then frees a slot without a claim that would find nothing). Each wake
  // bumps the epoch, so a claim racing a wake never clears the hint the wake set.
  let mayHaveQueued = true;
  let wakeEpoch = 0;
  let heartbeat: NodeJS.Timeout | undefined;

  async function record(
    event: TaskEvent,
    expected: readonly TaskState[],
    leaseOwner?: string,
    current?: Task,
  ) {
    const appended = await store.appendEvent(event, expected, leaseOwner, current);
    if (appended) bus.publish(appended.event, appended.task);
    return appended;
  }

  /** recordOwn records an event of a task this instance runs, while it still holds the lease. */
  async function recordOwn(event: TaskEvent) {
    const run = running.get(event.taskId);
    const appended = await record(event, [TaskState.RUNNING], instanceId, run?.current);
    if (run && appended) run.current = appended.task;
    return appended;
  }

  /** requeueOrFail is the takeover of a task whose instance died: run it again, or give up. */
  function requeueOrFail(task: Task): TaskEvent {
    if (task.attempts < options.maxAttempts) {
      return stateChangeEvent(task.id, TaskState.QUEUED, task.attempts, "requeued after restart");
    }
    const message = `gave up after ${task.attempts} attempts interrupted by restarts`;
    return errorEvent(
      task.id,
      TaskState.FAILED,
      taskErrorOf(new ConnectError(message, Code.Aborted)),
    );
  }

  async function takeOver(expiredBefore: number): Promise<void> {
    const taken = await store.takeOverTasks(expiredBefore, requeueOrFail);
    for (const { event, task } of taken) bus.publish(event, task);
  }

  /** beat renews this instance's leases, takes over expired ones and looks for queued work. */
  async function beat(): Promise<void> {
    await store.renewLeases(instanceId, [...running.keys()], Date.now() + options.leaseMs);
    if (store.shared) await takeOver(Date.now());
    wake();
  }

  function abort(taskId: string, reason: ConnectError) {
    running.get(taskId)?.controller.abort(reason);
  }

  const pastDeadline = (task: Task) =>
    new ConnectError(`task ran past its ${task.timeoutMs} ms deadline`, Code.DeadlineExceeded);

  async function fail(taskId: string, error: ConnectError) {
    await recordOwn(errorEvent(taskId, TaskState.FAILED, taskErrorOf(error)));
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
      fail(task.id, pastDeadline(task)).catch(options.onError);
    }, task.timeoutMs);
    // Progress reports are recorded one after another, in the order the handler made them.
    let progress = Promise.resolve();
    const context: TaskContext = {
      taskId: task.id,
      keyId: task.keyId,
      // Made when a handler asks: an AbortSignal costs ~2.5 µs, and most handlers never look.
      get signal() {
        return controller.signal;
      },
      maxOutputBytes: options.maxOutputBytes,
      request: options.request,
      durations: options.durations,
      progress(percent, note = "") {
        progress = progress
          .then(() => recordOwn(progressEvent(task.id, percent, note)))
          .then(() => undefined, options.onError);
      },
    };
    const started = performance.now();
    const done = (async () => {
      const outcome = await execute(task, context);
      if (outcome.state === TaskState.SUCCEEDED) {
        options.durations.record(task.type, performance.now() - started);
      }
      clearTimeout(deadline);
      await progress;
      // A no-op when cancel, the deadline, a drain or a takeover already ended this attempt.
      await recordOwn(outcome).catch(options.onError);
      running.delete(task.id);
      countRunning(task.keyId, -1);
      pumpSoon();
    })();
    running.set(task.id, { task, current: task, controller, done });
    countRunning(task.keyId, 1);
  }

  const startEvent = (task: Task) =>
    stateChangeEvent(task.id, TaskState.RUNNING, task.attempts + 1);

  /**
   * runPure runs a pure task's handler before its insert. Nothing can cancel a task nobody
   * knows of yet: its signal never aborts, and a run past the deadline fails once it ends.
   */
  async function runPure(item: NewTask): Promise<NewTask> {
    const { task } = item;
    const start = startEvent(task);
    const started = performance.now();
    let end = await execute(task, new PureTaskContext(task, options.maxOutputBytes));
    const took = performance.now() - started;
    if (took > task.timeoutMs) {
      end = errorEvent(task.id, TaskState.FAILED, taskErrorOf(pastDeadline(task)));
    } else if (end.state === TaskState.SUCCEEDED) {
      options.durations.record(task.type, took);
    }
    return { ...item, ran: { start, end } };
  }

  async function admit(tasks: readonly NewTask[], keyHasQueued: boolean): Promise<InsertedTask[]> {
    // Plain loops: this runs at every submit, and the closures it made cost ~2% of one (in a
    // CPU profile under load), tsx's naming of each included.
    const items: NewTask[] = [];
    for (const item of tasks) {
      const runsFirst =
        !keyHasQueued &&
        !draining &&
        registry.runsAsSubmitted(item.task.spec as TaskSpec, item.spec.byteLength);
      items.push(runsFirst ? await runPure(item) : item);
    }
    const inserted = await store.insertTasks(items);
    let wakeUp = false;
    for (let index = 0; index < inserted.length; index++) {
      const { task, created } = inserted[index] as InsertedTask;
      const { event, ran } = items[index] as NewTask;
      if (!created) continue;
      bus.publish(event, task);
      if (ran === undefined) {
        wakeUp = true;
      } else {
        bus.publish(ran.start, task);
        bus.publish(ran.end, task);
      }
    }
    if (wakeUp) wake();
    return inserted;
  }

  /** anyKeyAtCap tells whether a key runs as many tasks here as it may: it may have more queued. */
  function anyKeyAtCap(): boolean {
    for (const count of runningOfKey.values()) {
      if (count >= options.maxRunningTasksPerKey) return true;
    }
    return false;
  }

  async function pump(): Promise<void> {
    while (mayHaveQueued && !draining && running.size < options.maxConcurrentTasks) {
      const epoch = wakeEpoch;
      const free = options.maxConcurrentTasks - running.size;
      const lease = { owner: instanceId, expiresAt: Date.now() + options.leaseMs };
      const claimed = await store.claimTasks(free, startEvent, lease, {
        maxRunningPerKey: options.maxRunningTasksPerKey,
        runningOfKey,
        lastServed,
      });
      for (const { event, task } of claimed) {
        bus.publish(event, task);
        start(task);
        lastServed = task.keyId;
      }
      if (claimed.length < free) {
        // Tasks of a key at its cap stay queued: one of its tasks ending is a reason to look.
        if (epoch === wakeEpoch && !anyKeyAtCap()) mayHaveQueued = false;
        break;
      }
    }
  }

  function wake(): void {
    wakeEpoch++;
    mayHaveQueued = true;
    pumpSoon();
  }

  /**
   * pumpSoon claims, once this turn of the event loop is over, while there may be queued
   * tasks and free slots; asked while a pump runs, it pumps again once that one ends. Waiting
   * for the end of the turn lets every task finishing in it free its slot first: their
   * successors are then claimed together, in one write, instead of in a claim per task (a
   * claim costs about as much for sixteen tasks as for one).
   */
  function pumpSoon(): void {
    if (pumpState === "pumping") pumpAgain = true;
    if (pumpState !== "idle") return;
    pumpState = "scheduled";
    setImmediate(() => {
      pumpState = "pumping";
      pumpAgain = false;
      pump()
        .catch(options.onError)
        .finally(() => {
          pumpState = "idle";
          if (pumpAgain && !draining) pumpSoon();
        });
    });
  }

  return {
    admit,
    record,
    abort,
    isRunning: (taskId) => running.has(taskId),
    wake,
    get runningCount() {
      return running.size;
    },
    async recover() {
      // Alone on its store, an instance starting finds only tasks of its own dead predecessor.
      await takeOver(store.shared ? Date.now() : Number.MAX_SAFE_INTEGER);
      heartbeat = setInterval(() => beat().catch(options.onError), options.leaseMs / 3).unref();
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
      clearInterval(heartbeat);
      for (const [taskId, run] of running) {
        await recordOwn(
          stateChangeEvent(taskId, TaskState.QUEUED, run.task.attempts, "requeued at shutdown"),
        );
        run.controller.abort(new ConnectError("the server is shutting down", Code.Unavailable));
      }
      await finished;
    },
  };
}
