import type { DescMessage } from "@bufbuild/protobuf";
import type { ResultMessage, SpecField, SpecMessage } from "../../clients/shared/task-types.js";
import type { DurationStats } from "../engine/routing.js";
import type { IncomingResponse, OutgoingRequest } from "../net/guarded-request.js";

/**
 * TaskCost is how a handler's work on the CPU grows with its input, which decides where it
 * runs: nothing whose work grows with its input runs on the event loop unbounded.
 * - "constant": bounded whatever the input (a timer, a few random values, requests sent and
 *   waited on): on the event loop.
 * - "linear": a pass or two over its input at memory speed (a copy, a digest, base64): on
 *   the event loop while its input is at most inlineInputBytes, else on the worker pool.
 * - "heavy": anything else, or not known (parsing, compression, regular expressions,
 *   images): on the worker pool, where a deadline or a cancel stops it mid-computation.
 * Without worker threads (workerThreads 0) every task runs on the event loop.
 */
export type TaskCost = "constant" | "linear" | "heavy";

/** The largest input, encoded, that a "linear" task runs with on the event loop. */
export const inlineInputBytes = 64 * 1024;

/** runsOnEventLoop tells whether a task of a cost runs on the event loop with an input of a size. */
export function runsOnEventLoop(cost: TaskCost, inputBytes: number): boolean {
  return cost === "constant" || (cost === "linear" && inputBytes <= inlineInputBytes);
}

/** TaskContext is what a running handler gets from the engine besides its input. */
export interface TaskContext {
  /** The task's id. */
  readonly taskId: string;
  /** The id of the API key that submitted the task; empty when none did (an open path). */
  readonly keyId: string;
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
   * How its work grows with its input (see TaskCost). Unless it is "constant", its run may
   * happen on the worker pool, and must then need nothing but its input and progress (it
   * gets the input and result across threads as Protobuf; no requests, no durations).
   */
  readonly cost: TaskCost;
  /**
   * Whether its run is quick and has no effect but its result (no requests, no progress
   * reports): while it runs on the event loop (see TaskCost), it may then run as its task is
   * submitted, before the task is committed, which is then committed finished (a Submit
   * answers with the result), and it takes no slot of maxConcurrentTasks. A crash before the
   * commit leaves no trace of it, as of the task.
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
