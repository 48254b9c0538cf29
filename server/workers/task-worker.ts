import { parentPort } from "node:worker_threads";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { PluginTaskDefinition } from "../plugins/plugin-api.js";
import { importPlugin } from "../plugins/plugin-loader.js";
import { builtinTasks } from "../tasks/registry.js";
import type { TaskContext } from "../tasks/task-handler.js";
import type { JobReply, JobRequest } from "./worker-messages.js";

/** Runner runs one task type from its encoded input to its encoded result. */
type Runner = (input: Uint8Array, context: TaskContext) => Promise<Uint8Array>;

// The handlers a worker can run: the same modules the server's registry uses.
const builtinRunners = new Map<string, Runner>(
  builtinTasks.map((handler) => [
    handler.field,
    async (input, context) =>
      toBinary(
        handler.resultSchema,
        await handler.run(fromBinary(handler.requestSchema, input) as never, context),
      ),
  ]),
);

// Plugin modules this worker imported, by URL: the URL names one generation of a plugin.
const plugins = new Map<string, ReturnType<typeof importPlugin>>();

async function pluginRunner(url: string, type: string): Promise<Runner> {
  let plugin = plugins.get(url);
  if (plugin === undefined) {
    plugin = importPlugin(url);
    plugins.set(url, plugin);
  }
  const task = (await plugin).tasks.find((t) => t.type === type) as PluginTaskDefinition;
  if (task === undefined) throw new Error(`the plugin at ${url} has no ${type} task`);
  return async (input, context) =>
    toBinary(
      task.result,
      create(task.result as DescMessage, await task.run(fromBinary(task.request, input), context)),
    );
}

const port = parentPort;
if (port === null) throw new Error("task-worker runs as a worker thread");
const reply = (message: JobReply) => port.postMessage(message);

// A worker runs one job at a time: the pool only sends it the next once this one answered.
// It is stopped by terminating the thread, so its handlers' signal never aborts.
const neverAborted = new AbortController().signal;

port.on("message", async (request: JobRequest) => {
  const { id, taskId, keyId, field, plugin, input, maxOutputBytes } = request;
  try {
    const run = plugin ? await pluginRunner(plugin.url, plugin.type) : builtinRunners.get(field);
    if (run === undefined) throw new Error(`no ${field} handler in the worker`);
    const context: TaskContext = {
      taskId,
      keyId,
      signal: neverAborted,
      maxOutputBytes,
      progress: (percent, note = "") => reply({ id, progress: { percent, note } }),
    };
    reply({ id, output: await run(input, context) });
  } catch (reason) {
    const error = ConnectError.from(reason);
    reply({ id, error: { code: error.code, message: error.rawMessage } });
  }
});
