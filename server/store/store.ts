import type { Task, TaskEvent, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { RateLimiter } from "../security/rate-limiter.js";
import type { AuditStore } from "./audit-store.js";
import type { ClaimShares } from "./claim-turns.js";
import type { KeyStore } from "./key-store.js";

/** NewTask is a task to commit together with its first event (queued, sequence 1). */
export interface NewTask {
  readonly task: Task;
  /** The task's spec, encoded: what its row keeps (the engine has encoded it to size it). */
  readonly spec: Uint8Array;
  readonly event: TaskEvent;
  /**
   * Set when the task already ran, as it was submitted (see TaskHandler.pure): it is
   * committed finished, with these as its second and third events (the store numbers them).
   */
  readonly ran?: { readonly start: TaskEvent; readonly end: TaskEvent } | undefined;
}

/** InsertedTask is the outcome of committing a NewTask. */
export interface InsertedTask {
  /**
   * The committed task (finished when it ran as it was submitted), or the existing one that
   * already had the idempotency key.
   */
  readonly task: Task;
  /** False when the idempotency key matched an existing task and nothing was inserted. */
  readonly created: boolean;
}

/** TaskQuery filters and pages ListTasks; tasks come newest first. */
export interface TaskQuery {
  readonly states: readonly TaskState[];
  readonly types: readonly string[];
  /** Only tasks of this API key; every key's when undefined. */
  readonly keyId?: string | undefined;
  /** Milliseconds since the epoch, inclusive. */
  readonly createdAfter?: number | undefined;
  /** Milliseconds since the epoch, exclusive. */
  readonly createdBefore?: number | undefined;
  /** Only tasks with an id below this one (ids are UUIDv7, so older). */
  readonly beforeId?: string | undefined;
  readonly limit: number;
}

/** TaskWithEvents is a task and its events after some sequence number. */
export interface TaskWithEvents {
  readonly task: Task;
  readonly events: TaskEvent[];
}

/** Backlog is the work waiting: in the whole queue, and of one API key. */
export interface Backlog {
  /** Tasks queued now. */
  readonly queued: number;
  /** The key's tasks queued or running now. */
  readonly unfinishedOfKey: number;
  /** Whether some of the key's tasks are queued now. */
  readonly keyHasQueued: boolean;
}

/** AppendedEvent is an event as stored, with the task it left behind. */
export interface AppendedEvent {
  readonly task: Task;
  readonly event: TaskEvent;
}

/**
 * Lease says which agent instance runs a claimed task, and until when: an instance renews the
 * leases of the tasks it runs, and a task whose lease expired is taken over by another.
 */
export interface Lease {
  /** The instance holding it. */
  readonly owner: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

/** TaskTag is what listeners learn of an event's task besides its id: its type, and its key. */
export type TaskTag = Pick<Task, "type" | "keyId">;

/** CommittedEventListener receives a committed event with its task's tag. */
export type CommittedEventListener = (event: TaskEvent, task: TaskTag) => void;

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
   * Whether several agent instances may use this store at once. When false, a task found
   * running at start was left by a dead process and can be taken over at once.
   */
  readonly shared: boolean;
  /** The rate-limit buckets, shared by every instance using the store. */
  readonly rateLimiter: RateLimiter;
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
  /** getTaskWithEvents is getTask and listEvents in one read, as a watch starts. */
  getTaskWithEvents(taskId: string, afterSequence: bigint): Promise<TaskWithEvents | undefined>;
  /**
   * appendEvent numbers an event, stores it and applies it to its task, if the task is in
   * one of the expected states; otherwise it changes nothing and returns undefined.
   */
  appendEvent(
    event: TaskEvent,
    expected: readonly TaskState[],
    /** When given, the event applies only while this instance holds the task's lease. */
    leaseOwner?: string,
    /**
     * The task as the caller last saw it: a store may write the event on top of it at once,
     * reading the task only when it has changed since (a hint: never needed, never trusted).
     */
    current?: Task,
  ): Promise<AppendedEvent | undefined>;
  /**
   * claimTasks moves up to `limit` queued tasks to running under a lease, recording the event
   * `start` makes for each, and returns them in the order they start; fewer (or none) when
   * fewer wait, or when their keys are at their running cap. The keys with queued tasks take
   * turns (see claimTurns); a key's own tasks go highest priority first, oldest first among
   * equals. Instances claiming at once never get the same task.
   */
  claimTasks(
    limit: number,
    start: (task: Task) => TaskEvent,
    lease: Lease,
    shares: ClaimShares,
  ): Promise<AppendedEvent[]>;
  /**
   * renewLeases extends an instance's leases of the given tasks, the ones it still runs. A
   * lease it holds on any other task (one whose outcome it failed to record) is left to
   * expire, so that another instance takes the task over.
   */
  renewLeases(owner: string, taskIds: readonly string[], expiresAt: number): Promise<void>;
  /**
   * takeOverTasks records, for each running task whose lease expired before a time, the
   * event `takeOver` makes for it (requeue or fail), in a transaction of its own.
   */
  takeOverTasks(
    expiredBefore: number,
    takeOver: (task: Task) => TaskEvent,
  ): Promise<AppendedEvent[]>;
  /** countTasks returns how many tasks are in the given state. */
  countTasks(state: TaskState): Promise<number>;
  /** countBacklog returns what a submit's caps are checked against, in one read. */
  countBacklog(keyId: string): Promise<Backlog>;
  /** onRemoteEvent calls listener with each event another instance commits; returns the unsubscribe. */
  onRemoteEvent(listener: CommittedEventListener): () => void;
  /**
   * onFeedGap calls listener when events of other instances may have been missed (the feed
   * was down): what depends on them should be read again from the store.
   */
  onFeedGap(listener: () => void): () => void;
  /** onAvailability calls listener when the database stops (false) or starts (true) answering. */
  onAvailability(listener: (available: boolean) => void): () => void;
  /** close releases the store; nothing may be called after. */
  close(): Promise<void>;
}
