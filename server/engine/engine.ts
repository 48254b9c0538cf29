import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Task,
  type TaskEvent,
  TaskSchema,
  type TaskSpec,
  TaskSpecSchema,
  TaskState,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { uuidV7 } from "../lib/uuid-v7.js";
import type { InsertedTask, Store, TaskQuery } from "../store/store.js";
import { isTerminal } from "../store/task-projection.js";
import type { TaskRegistry } from "../tasks/registry.js";
import { checkRange, invalidField } from "../tasks/task-errors.js";
import type { TaskContext } from "../tasks/task-handler.js";
import { createEventBus, type TaskEventListener } from "./event-bus.js";
import { createExecutor } from "./executor.js";
import { createDurationStats, specPriority } from "./routing.js";
import { errorEvent, firstEvent, taskErrorOf } from "./task-events.js";
import { type FirstRead, watchTask } from "./task-watch.js";

/** EngineLimits bound what a submit may ask for and how the engine runs. */
export interface EngineLimits {
  /** The most tasks running at once, pure ones run as they are submitted aside. */
  readonly maxConcurrentTasks: number;
  /** The most tasks of one API key running at once; the slots are shared in turn among keys. */
  readonly maxRunningTasksPerKey: number;
  /** The timeout a task gets when its submit names none, in milliseconds. */
  readonly defaultTimeoutMs: number;
  /** The longest timeout a submit may ask for, in milliseconds. */
  readonly maxTimeoutMs: number;
  /** The largest result and the most a handler may inflate, in bytes. */
  readonly maxOutputBytes: number;
  /** A task interrupted by this many crashes is failed instead of run again. */
  readonly maxAttempts: number;
  /** The most unfinished (queued or running) tasks one API key may have. */
  readonly maxTasksPerKey: number;
  /** The most tasks the queue holds; submits beyond it are refused. */
  readonly maxQueuedTasks: number;
  /** A watch with no event for this long ends with DeadlineExceeded (the caller resumes). */
  readonly streamIdleTimeoutMs: number;
  /** How long a claimed task's lease lasts before another instance may take the task over. */
  readonly leaseMs: number;
}

/** EngineOptions wires an engine to its store and task registry. */
export interface EngineOptions extends EngineLimits {
  readonly store: Store;
  readonly registry: TaskRegistry;
  /** This agent instance's name in the leases of the tasks it runs. */
  readonly instanceId: string;
  /** Sends handlers' HTTP requests (see TaskContext.request). */
  readonly request?: TaskContext["request"];
  /** Where unexpected errors in background work are reported. */
  readonly onError: (error: unknown) => void;
}

/** SubmitInput is one task to queue, as the RPCs carry it. */
export interface SubmitInput {
  readonly spec?: TaskSpec | undefined;
  readonly priority?: number | undefined;
  readonly idempotencyKey: string;
  readonly timeoutMs: number;
  /** The id of the API key submitting it; undefined on an open path. */
  readonly keyId?: string | undefined;
}

/** Engine owns the task lifecycle: submit, run, cancel, watch. It knows nothing of HTTP. */
export interface Engine {
  /**
   * start recovers tasks interrupted by a crash and begins running queued ones, and those
   * other instances queue on a shared store.
   */
  start(): Promise<void>;
  /** submit validates and commits a task, then returns it; see Store.insertTasks. */
  submit(input: SubmitInput): Promise<InsertedTask>;
  /**
   * run submits a task and streams its events until it ends (see watchTask); with an
   * idempotency key that names a task already, that task's.
   */
  run(input: SubmitInput, signal: AbortSignal): AsyncGenerator<TaskEvent>;
  /**
   * submitBatch submits many tasks; each item is validated on its own, and the valid ones
   * are committed in one transaction. An item's outcome is its task or its error.
   */
  submitBatch(inputs: readonly SubmitInput[]): Promise<(InsertedTask | ConnectError)[]>;
  /**
   * getTask returns a task, or throws NotFound; with an owner, also when the task is another
   * API key's (whether it exists is not told).
   */
  getTask(taskId: string, owner?: string): Promise<Task>;
  /** listTasks returns tasks matching a query, newest first. */
  listTasks(query: TaskQuery): Promise<Task[]>;
  /**
   * cancelTask cancels a queued or running task; a finished one is FailedPrecondition. With
   * an owner, another key's task is NotFound.
   */
  cancelTask(taskId: string, reason: string, owner?: string): Promise<Task>;
  /**
   * watchTask streams a task's events after a sequence number; see watchTask. With an owner,
   * another key's task is NotFound.
   */
  watchTask(
    taskId: string,
    afterSequence: bigint,
    signal: AbortSignal,
    owner?: string,
  ): AsyncGenerator<TaskEvent>;
  /** onEvent calls listener with every committed event of every task; returns the unsubscribe. */
  onEvent(listener: TaskEventListener): () => void;
  /** drain stops taking work and lets running tasks finish within graceMs; see Executor.drain. */
  drain(graceMs: number): Promise<void>;
  /** The number of tasks running now. */
  readonly runningCount: number;
}

/** How long a task another instance queued may wait for that instance before this one looks. */
const stealDelayMs = 20;
const maxIdempotencyKeyLength = 256;

/** createEngine builds an engine; call start() before submitting. */
export function createEngine(options: EngineOptions): Engine {
  const { store, registry } = options;
  const bus = createEventBus();
  const durations = createDurationStats();
  const executor = createExecutor({ ...options, bus, durations });

  // Events other instances commit reach this instance's watchers, stop a handler here whose
  // task another instance cancelled, and wake this instance for work the instance that
  // queued it has not claimed within stealDelayMs (it usually does at once: waking every
  // instance for every task would only make them race for it).
  const unclaimed = new Map<string, NodeJS.Timeout>();
  store.onRemoteEvent((event, task) => {
    bus.publish(event, task);
    clearTimeout(unclaimed.get(event.taskId));
    unclaimed.delete(event.taskId);
    if (event.state === TaskState.QUEUED) {
      const steal = setTimeout(() => {
        unclaimed.delete(event.taskId);
        executor.wake();
      }, stealDelayMs);
      unclaimed.set(event.taskId, steal.unref());
    }
    if (isTerminal(event.state) && executor.isRunning(event.taskId)) {
      const message = event.kind.case === "error" ? event.kind.value.message : "finished";
      executor.abort(event.taskId, new ConnectError(message, Code.Canceled));
    }
  });
  store.onFeedGap(() => {
    executor.wake();
    remindWatchers().catch(options.onError);
  });

  /** remindWatchers shows each watched task's latest event again, so watchers fill any hole. */
  async function remindWatchers(): Promise<void> {
    for (const taskId of bus.watchedTaskIds()) {
      const task = await store.getTask(taskId);
      if (task === undefined) continue;
      const [latest] = await store.listEvents(taskId, task.lastSequence - 1n);
      if (latest) bus.remind(latest, task);
    }
  }

  function prepare(input: SubmitInput, path: string) {
    const type = registry.validate(input.spec, `${path}spec`);
    const spec = input.spec as TaskSpec;
    // Encoded once: its size is scored, and its row keeps the bytes.
    const specBytes = toBinary(TaskSpecSchema, spec);
    // Without a priority, the routing scorer gives one: quick work first.
    const priority = input.priority ?? specPriority(spec, durations, specBytes.byteLength);
    checkRange(`${path}priority`, priority, 0, 100);
    if (input.idempotencyKey.length > maxIdempotencyKeyLength) {
      throw invalidField(
        `${path}idempotency_key`,
        `must be at most ${maxIdempotencyKeyLength} characters, got ${input.idempotencyKey.length}`,
      );
    }
    checkRange(`${path}timeout_ms`, input.timeoutMs, 0, options.maxTimeoutMs);
    const id = uuidV7();
    const createdAt = timestampNow();
    const task = create(TaskSchema, {
      id,
      type,
      spec,
      state: TaskState.QUEUED,
      priority,
      idempotencyKey: input.idempotencyKey,
      keyId: input.keyId ?? "",
      timeoutMs: input.timeoutMs || options.defaultTimeoutMs,
      createdAt,
      lastSequence: 1n,
    });
    return { task, spec: specBytes, event: firstEvent(id, createdAt) };
  }

  /**
   * checkCaps checks that `count` more tasks fit under the caps, and returns whether the
   * key has tasks queued. Caps are checked before the insert: racing submits may pass one by
   * a little, never by much.
   */
  async function checkCaps(keyId: string | undefined, count: number): Promise<boolean> {
    const backlog = await store.countBacklog(keyId ?? "");
    const { queued, unfinishedOfKey: unfinished } = backlog;
    if (queued + count > options.maxQueuedTasks) {
      throw new ConnectError(
        `the queue is full (${queued} tasks waiting); retry later`,
        Code.ResourceExhausted,
      );
    }
    if (keyId && unfinished + count > options.maxTasksPerKey) {
      throw new ConnectError(
        `API key ${keyId} has ${unfinished} unfinished tasks; it may have at most ${options.maxTasksPerKey}`,
        Code.ResourceExhausted,
      );
    }
    return backlog.keyHasQueued;
  }

  /** admitted prepares one task and checks it fits under the caps; see Executor.admit. */
  async function admitted(input: SubmitInput) {
    const prepared = prepare(input, "");
    return { prepared, keyHasQueued: await checkCaps(input.keyId, 1) };
  }

  async function submit(input: SubmitInput): Promise<InsertedTask> {
    const { prepared, keyHasQueued } = await admitted(input);
    const [inserted] = await executor.admit([prepared], keyHasQueued);
    return inserted as InsertedTask;
  }

  const watch = (taskId: string, afterSequence: bigint, signal: AbortSignal, read?: FirstRead) =>
    watchTask(store, bus, taskId, afterSequence, signal, options.streamIdleTimeoutMs, read);

  const notFound = (taskId: string) => new ConnectError(`task ${taskId} not found`, Code.NotFound);
  /** visible tells whether a task is there for a caller limited to an owner's tasks. */
  const visible = (task: Task | undefined, owner: string | undefined): task is Task =>
    task !== undefined && (owner === undefined || task.keyId === owner);

  async function getTask(taskId: string, owner?: string): Promise<Task> {
    if (taskId === "") throw invalidField("task_id", "is required");
    const task = await store.getTask(taskId);
    if (!visible(task, owner)) throw notFound(taskId);
    return task;
  }

  function finishedError(task: Task): ConnectError {
    const state = TaskState[task.state].toLowerCase();
    return new ConnectError(
      `task ${task.id} has already finished (${state})`,
      Code.FailedPrecondition,
    );
  }

  return {
    start: () => executor.recover(),
    submit,
    async *run(input, signal) {
      if (input.idempotencyKey !== "") {
        yield* watch((await submit(input)).task.id, 0n, signal);
        return;
      }
      const { prepared, keyHasQueued } = await admitted(input);
      // Watched from before its insert, the new task's events all reach the watch as they
      // are committed, the first with the insert (all of them, for a task that ran as it was
      // submitted): none needs reading back.
      const { task, event } = prepared;
      yield* watch(task.id, 0n, signal, async () => {
        await executor.admit([prepared], keyHasQueued);
        return { task, events: [event] };
      });
    },
    async submitBatch(inputs) {
      const outcomes: (ReturnType<typeof prepare> | ConnectError)[] = inputs.map((input, index) => {
        try {
          return prepare(input, `requests[${index}].`);
        } catch (reason) {
          return ConnectError.from(reason);
        }
      });
      const valid = outcomes.filter(
        (o): o is ReturnType<typeof prepare> => !(o instanceof ConnectError),
      );
      const inserted =
        valid.length > 0
          ? await executor.admit(valid, await checkCaps(inputs[0]?.keyId, valid.length))
          : [];
      let next = 0;
      return outcomes.map((o) =>
        o instanceof ConnectError ? o : (inserted[next++] as InsertedTask),
      );
    },
    getTask,
    listTasks: (query) => store.listTasks(query),
    async cancelTask(taskId, reason, owner) {
      const task = await getTask(taskId, owner);
      if (isTerminal(task.state)) throw finishedError(task);
      const error = new ConnectError(reason || "cancelled by request", Code.Canceled);
      const cancelled = await executor.record(
        errorEvent(taskId, TaskState.CANCELLED, taskErrorOf(error)),
        [TaskState.QUEUED, TaskState.RUNNING],
        undefined,
        task,
      );
      // It finished between the read and the cancel: report the state it finished in.
      if (cancelled === undefined) throw finishedError(await getTask(taskId));
      executor.abort(taskId, error);
      return cancelled.task;
    },
    async *watchTask(taskId, afterSequence, signal, owner) {
      if (taskId === "") throw invalidField("task_id", "is required");
      yield* watch(taskId, afterSequence, signal, async () => {
        const found = await store.getTaskWithEvents(taskId, afterSequence);
        return visible(found?.task, owner) ? found : undefined;
      });
    },
    onEvent: (listener) => bus.subscribeAll(listener),
    drain: (graceMs) => executor.drain(graceMs),
    get runningCount() {
      return executor.runningCount;
    },
  };
}
