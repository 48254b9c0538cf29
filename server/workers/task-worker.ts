import { parentPort } from "node:worker_threads";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { builtinTasks } from "../tasks/registry.js";
import type { AnyTaskHandler, TaskContext } from "../tasks/task-handler.js";
import type { JobReply, JobRequest } from "./worker-messages.js";

// The handlers a worker can run: the same modules the server's registry uses.
const handlers = new Map<string, AnyTaskHandler>(builtinTasks.map((h) => [h.field, h]));
const port = parentPort;
if (port === null) throw new Error("task-worker runs as a worker thread");
const reply = (message: JobReply) => port.postMessage(message);

// A worker runs one job at a time: the pool only sends it the next once this one answered.
// It is stopped by terminating the thread, so its handlers' signal never aborts.
const neverAborted = new AbortController().signal;

port.on("message", async ({ id, field, input, maxOutputBytes }: JobRequest) => {
  try {
    const handler = handlers.get(field);
    if (handler === undefined) throw new Error(`no ${field} handler in the worker`);
    const context: TaskContext = {
      signal: neverAborted,
      maxOutputBytes,
      progress: (percent, note = "") => reply({ id, progress: { percent, note } }),
    };
    const result = await handler.run(fromBinary(handler.requestSchema, input) as never, context);
    reply({ id, output: toBinary(handler.resultSchema, result) });
  } catch (reason) {
    const error = ConnectError.from(reason);
    reply({ id, error: { code: error.code, message: error.rawMessage } });
  }
});
