import { type DescMessage, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import type { WorkerPool } from "../workers/worker-pool.js";
import { runsOnEventLoop, type TaskContext, type TaskCost } from "./task-handler.js";

/** Placed is a task run as its cost places it: its messages, and how to run it here. */
export interface Placed {
  readonly cost: TaskCost;
  readonly request: DescMessage;
  readonly result: DescMessage;
  /** The TaskSpec field of its handler, and for a plugin task its module and type. */
  readonly field: string;
  readonly plugin?: { readonly url: string; readonly type: string } | undefined;
  /** runHere runs it on the event loop. */
  runHere(): Promise<Message>;
}

/**
 * runPlaced runs a task where its cost says (see TaskCost): on the event loop, or with its
 * input encoded on the worker pool, when there is one.
 */
export async function runPlaced(
  task: Placed,
  input: Message,
  context: TaskContext,
  pool: WorkerPool | undefined,
): Promise<Message> {
  if (pool === undefined || task.cost === "constant") return task.runHere();
  const bytes = toBinary(task.request, input);
  if (runsOnEventLoop(task.cost, bytes.byteLength)) return task.runHere();
  const output = await pool.run({
    taskId: context.taskId,
    keyId: context.keyId,
    field: task.field,
    plugin: task.plugin,
    input: bytes,
    maxOutputBytes: context.maxOutputBytes,
    signal: context.signal,
    progress: context.progress,
  });
  return fromBinary(task.result, output);
}
