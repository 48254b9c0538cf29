import type { DescMessage } from "@bufbuild/protobuf";
import type { ResultMessage, SpecField, SpecMessage } from "../../clients/shared/task-types.js";
import type { DurationStats } from "../engine/routing.js";
import type { IncomingResponse, OutgoingRequest } from "../net/guarded-request.js";

/** TaskContext is what a running handler gets from the engine besides its input. */
export interface TaskContext {
  /** The task's id. */
  readonly taskId: string;
  /** Aborted when the task is cancelled, passes its deadline, or the server stops. */
  readonly signal: AbortSignal;
  /** progress reports how far along the task is (0 to 100) with a note for people. */
  progress(percent: number, note?: string): void;
  /** The most bytes a handler may produce or inflate: the server's message size limit. */
  readonly maxOutputBytes: number;
  /**
   * request sends an HTTP request under the operator's address policy (no internal address
   * unless allowed). Handlers on worker threads have none.
   */
  readonly request?: ((request: OutgoingRequest) => Promise<IncomingResponse>) | undefined;
  /** How long this instance's recent tasks took, by type. Handlers on worker threads have none. */
  readonly durations?: DurationStats | undefined;
}

/**
 * TaskHandler is one task type: its name, its messages, how to check its input before it is
 * queued, and how to run it.
 */
export interface TaskHandler<K extends SpecField = SpecField> {
  /** The TaskSpec oneof field that carries this type's input. */
  readonly field: K;
  /** What the task does, for GetCapabilities and the CLI. */
  readonly description: string;
  /** The input message. */
  readonly requestSchema: DescMessage;
  /** The result message. */
  readonly resultSchema: DescMessage;
  /**
   * Whether it keeps the CPU busy: it then runs on the worker pool, so the event loop keeps
   * answering, and a deadline or a cancel stops it even mid-computation. Its run must then
   * need nothing but its input (it gets the input and result across threads as Protobuf).
   */
  readonly cpuHeavy?: boolean;
  /**
   * Whether its run is quick and has no effect but its result (no requests, no progress
   * reports): it may then run as its task is submitted, before the task is committed, which
   * is then committed finished (a Submit answers with the result), and it takes no slot of
   * maxConcurrentTasks. A crash before the commit leaves no trace of it, as of the task.
   */
  readonly pure?: boolean;
  /**
   * validate throws an InvalidArgument error (see invalidField) naming the first field that
   * is out of range. `path` is the input's path in the request, for example "spec.delay".
   */
  validate(input: SpecMessage<K>, path: string): void;
  /**
   * prepare runs on the event loop before a CPU-heavy run and returns the input to run with:
   * it fetches what a worker thread cannot (worker threads send no requests).
   */
  prepare?(input: SpecMessage<K>, context: TaskContext): Promise<SpecMessage<K>>;
  /** run does the work. A thrown ConnectError fails the task with its code. */
  run(input: SpecMessage<K>, context: TaskContext): Promise<ResultMessage<K>>;
}

/** AnyTaskHandler is a handler of any one task type. */
export type AnyTaskHandler = { [K in SpecField]: TaskHandler<K> }[SpecField];

/** defineTask declares a task handler, checking its input and result types against the field. */
export function defineTask<K extends SpecField>(handler: TaskHandler<K>): TaskHandler<K> {
  return handler;
}
