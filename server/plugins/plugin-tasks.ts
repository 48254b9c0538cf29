import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { typeNameOf } from "../../clients/shared/task-types.js";
import {
  type PluginResult,
  PluginResultSchema,
  type PluginTask,
} from "../../gen/noizylab/agent/v1/plugin_pb.js";
import { invalidField } from "../tasks/task-errors.js";
import type { TaskContext } from "../tasks/task-handler.js";
import { runPlaced } from "../tasks/task-placement.js";
import type { WorkerPool } from "../workers/worker-pool.js";
import type { TaskHookEvent } from "./plugin-api.js";
import type { LoadedPlugin, PluginHost, PluginTaskRef } from "./plugin-host.js";

/** PluginTasks validates and runs the `plugin` tasks of a TaskSpec. */
export interface PluginTasks {
  /** validate checks a plugin task before it is queued and returns its task type. */
  validate(task: PluginTask, path: string): string;
  /** run runs a validated plugin task with its plugin's hooks around it. */
  run(task: PluginTask, context: TaskContext): Promise<PluginResult>;
}

const typeUrlPrefix = "type.googleapis.com/";

/** pluginFailure is the error for plugin code that threw something other than a ConnectError. */
function pluginFailure(plugin: LoadedPlugin, what: string, error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(
    `plugin ${plugin.definition.name}: ${what} threw: ${message}`,
    Code.Internal,
  );
}

/** createPluginTasks runs the host's plugin tasks: CPU-heavy ones on the pool, if any. */
export function createPluginTasks(host: PluginHost, pool?: WorkerPool): PluginTasks {
  function lookUp(task: PluginTask, path: string): PluginTaskRef {
    if (task.type === "") throw invalidField(`${path}.type`, "is required");
    const found = host.taskOf(task.type);
    if (found === undefined) {
      const known = host.tasks().map((ref) => ref.task.type);
      throw invalidField(
        `${path}.type`,
        `no loaded plugin provides ${JSON.stringify(task.type)} tasks; plugin task types here: ${known.join(", ") || "none"}`,
      );
    }
    return found;
  }

  function inputOf(task: PluginTask, { task: definition }: PluginTaskRef, path: string): Message {
    const expected = definition.request.typeName;
    const input = task.input;
    if (input === undefined) {
      throw invalidField(`${path}.input`, `is required: a ${expected} packed in an Any`);
    }
    if (typeNameOf(input.typeUrl) !== expected) {
      throw invalidField(
        `${path}.input`,
        `holds ${input.typeUrl || "no type URL"}; ${task.type} takes ${typeUrlPrefix}${expected}`,
      );
    }
    try {
      return anyUnpack(input, definition.request) as Message;
    } catch (error) {
      throw invalidField(`${path}.input`, `is not a valid ${expected}: ${String(error)}`);
    }
  }

  /** runHook runs a hook, if the plugin has it; one that throws is reported, and rethrown. */
  async function runHook(plugin: LoadedPlugin, hook: string, call: (() => unknown) | undefined) {
    try {
      await call?.();
    } catch (error) {
      host.hookFailed(plugin, hook, error);
      throw pluginFailure(plugin, hook, error);
    }
  }

  async function execute(
    ref: PluginTaskRef,
    input: Message,
    context: TaskContext,
  ): Promise<Message> {
    const { plugin, task } = ref;
    const placed = {
      // A plugin's task is heavy unless it says otherwise: its work is not known here.
      cost: task.cost ?? "heavy",
      request: task.request,
      result: task.result,
      field: "plugin",
      plugin: { url: plugin.url, type: task.type },
      async runHere() {
        try {
          return create(task.result as DescMessage, await task.run(input, context)) as Message;
        } catch (error) {
          throw pluginFailure(plugin, `task ${task.type}`, error);
        }
      },
    };
    return runPlaced(placed, input, context, pool);
  }

  return {
    validate(task, path) {
      const ref = lookUp(task, path);
      const input = inputOf(task, ref, path);
      try {
        ref.task.validate?.(input, `${path}.input`);
      } catch (error) {
        throw pluginFailure(ref.plugin, "validate", error);
      }
      return task.type;
    },
    async run(task, context) {
      const ref = host.taskOf(task.type);
      if (ref === undefined) {
        throw new ConnectError(
          `no loaded plugin provides ${task.type} tasks now: it was unloaded after this task was queued`,
          Code.FailedPrecondition,
        );
      }
      const { plugin, task: definition } = ref;
      const hooks = plugin.definition;
      const input = inputOf(task, ref, "spec.plugin");
      const event: TaskHookEvent = { taskId: context.taskId, type: task.type, input };
      await runHook(plugin, "beforeTask", hooks.beforeTask && (() => hooks.beforeTask?.(event)));
      let result: Message;
      try {
        result = await execute(ref, input, context);
      } catch (reason) {
        const error = ConnectError.from(reason);
        // The task's own error stands; a failing onError hook is only reported.
        await runHook(
          plugin,
          "onError",
          hooks.onError && (() => hooks.onError?.({ ...event, error })),
        ).catch(() => {});
        throw error;
      }
      await runHook(
        plugin,
        "afterTask",
        hooks.afterTask && (() => hooks.afterTask?.({ ...event, result })),
      ).catch(() => {});
      return create(PluginResultSchema, {
        type: task.type,
        output: anyPack(definition.result, result),
      });
    },
  };
}
