import type { Task, TaskEvent, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { AuditStore } from "./audit-store.js";
import type { KeyStore } from "./key-store.js";

/** NewTask is a task to commit together with its first event (queued, sequence 1). */
export interface NewTask {
  readonly task: Task;
  readonly event: TaskEvent;
}

/** InsertedTask is the outcome of committing a NewTask. */
export interface InsertedTask {
  /** The committed task, or the existing one that already had the idempotency key. */
  readonly task: Task;
  /** False when the idempotency key matched an existing task and nothing was inserted. */
  readonly created: boolean;
}

/** TaskQuery filters and pages ListTasks; tasks come newest first. */
export interface TaskQuery {
  readonly states: readonly TaskState[];
  readonly types: readonly string[];
  /** Milliseconds since the epoch, inclusive. */
  readonly createdAfter?: number | undefined;
  /** Milliseconds since the epoch, exclusive. */
  readonly createdBefore?: number | undefined;
  /** Only tasks with an id below this one (ids are UUIDv7, so older). */
  readonly beforeId?: string | undefined;
  readonly limit: number;
}

/** AppendedEvent is an event as stored, with the task it left behind. */
export interface AppendedEvent {
  readonly task: Task;
  readonly event: TaskEvent;
}

/**
 * Store is the durable record of tasks and their events. Every method commits before its
 * promise resolves. A task row is the projection of its events (see applyEvent): the store
 * numbers each event and updates the row in the same transaction.
 */
export interface Store {
  /** The API keys. */
  readonly keys: KeyStore;
  /** The audit trail. */
  readonly audit: AuditStore;
  /**
   * insertTasks commits new tasks in one transaction. A task whose idempotency key an
   * existing task already has is not inserted: the existing task is returned instead,
   * atomically, also when several callers race.
   */
  insertTasks(tasks: readonly NewTask[]): Promise<InsertedTask[]>;
  /** getTask returns a task, or undefined when there is none with that id. */
  getTask(id: string): Promise<Task | undefined>;
  /** listTasks returns tasks matching the query, newest first. */
  listTasks(query: TaskQuery): Promise<Task[]>;
  /** listEvents returns a task's events with a sequence number above afterSequence, in order. */
  listEvents(taskId: string, afterSequence: bigint): Promise<TaskEvent[]>;
  /**
   * appendEvent numbers an event, stores it and applies it to its task, if the task is in
   * one of the expected states; otherwise it changes nothing and returns undefined.
   */
  appendEvent(event: TaskEvent, expected: readonly TaskState[]): Promise<AppendedEvent | undefined>;
  /**
   * claimNextTask moves the queued task with the highest priority (oldest first among
   * equals) to running, recording the event `start` makes for it; undefined when none waits.
   */
  claimNextTask(start: (task: Task) => TaskEvent): Promise<AppendedEvent | undefined>;
  /** listTaskIds returns the ids of all tasks in the given state, oldest first. */
  listTaskIds(state: TaskState): Promise<string[]>;
  /** countTasks returns how many tasks are in the given state. */
  countTasks(state: TaskState): Promise<number>;
  /** countUnfinishedTasks returns how many tasks a key submitted are queued or running. */
  countUnfinishedTasks(keyId: string): Promise<number>;
  /** close releases the store; nothing may be called after. */
  close(): Promise<void>;
}
