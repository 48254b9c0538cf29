import { create } from "@bufbuild/protobuf";
import { type SpecField, specFieldOf, taskTypeOf } from "../../clients/shared/task-types.js";
import type { TaskTypeInfo } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import {
  type TaskResult,
  TaskResultSchema,
  type TaskSpec,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import type { PluginHost } from "../plugins/plugin-host.js";
import { createPluginTasks } from "../plugins/plugin-tasks.js";
import type { WorkerPool } from "../workers/worker-pool.js";
import { apiTesterTask } from "./api-tester.js";
import { compressTask } from "./compress.js";
import { delayTask } from "./delay.js";
import { echoTask } from "./echo.js";
import { encodeTask } from "./encode.js";
import { hashTask } from "./hash.js";
import { imageMetadataTask } from "./image-metadata.js";
import { jsonValidatorTask } from "./json-validator.js";
import { randomTask } from "./random.js";
import { smartRoutingTask } from "./smart-routing.js";
import { invalidField } from "./task-errors.js";
import {
  type AnyTaskHandler,
  runsOnEventLoop,
  type TaskContext,
  type TaskHandler,
} from "./task-handler.js";
import { runPlaced } from "./task-placement.js";
import { textAnalysisTask } from "./text-analysis.js";
import { timestampTask } from "./timestamp.js";
import { uuidTask } from "./uuid.js";

/** builtinTasks are the task types every server runs. */
export const builtinTasks: readonly AnyTaskHandler[] = [
  echoTask,
  delayTask,
  hashTask,
  encodeTask,
  uuidTask,
  timestampTask,
  randomTask,
  compressTask,
  jsonValidatorTask,
  textAnalysisTask,
  apiTesterTask,
  smartRoutingTask,
  imageMetadataTask,
];

/** TaskRegistry knows every task type the server runs and dispatches specs to handlers. */
export interface TaskRegistry {
  /** taskTypes describes every task type: the server's own, then the plugins'. */
  taskTypes(): Omit<TaskTypeInfo, "$typeName">[];
  /**
   * validate checks a spec before it is queued and returns its task type name. It throws
   * InvalidArgument for a spec with no task, an unknown task or a field out of range.
   */
  validate(spec: TaskSpec | undefined, path: string): string;
  /**
   * runsAsSubmitted tells whether a validated spec may run as it is submitted: its handler
   * is pure (see TaskHandler.pure) and, with an input of this size (its spec encoded), runs
   * on the event loop (see TaskCost).
   */
  runsAsSubmitted(spec: TaskSpec, specBytes: number): boolean;
  /** run runs a validated spec with its handler and wraps the output as a TaskResult. */
  run(spec: TaskSpec, context: TaskContext): Promise<TaskResult>;
}

/**
 * createTaskRegistry builds the registry of the given handlers (the built-in ones by default)
 * and of the plugins' tasks, if there is a plugin host. With a worker pool, handlers run on
 * it as their cost says (see TaskCost); without one, on the event loop.
 */
export function createTaskRegistry(
  handlers: readonly AnyTaskHandler[] = builtinTasks,
  pool?: WorkerPool,
  plugins?: PluginHost,
): TaskRegistry {
  const byField = new Map<string, AnyTaskHandler>(handlers.map((h) => [h.field, h]));
  const pluginTasks = plugins && createPluginTasks(plugins, pool);
  const fieldList = [...byField.keys(), ...(pluginTasks ? ["plugin"] : [])].join(", ");

  function handlerOf<K extends SpecField>(field: K): TaskHandler<K> {
    return byField.get(field) as TaskHandler<K>;
  }

  return {
    taskTypes() {
      const own = handlers.map((handler) => ({
        name: taskTypeOf(handler.field),
        specField: specFieldOf(taskTypeOf(handler.field)),
        description: handler.description,
        requestMessage: handler.requestSchema.typeName,
        resultMessage: handler.resultSchema.typeName,
        plugin: "",
      }));
      const plugged = (plugins?.tasks() ?? []).map(({ plugin, task }) => ({
        name: task.type,
        specField: "plugin",
        description: task.description,
        requestMessage: task.request.typeName,
        resultMessage: task.result.typeName,
        plugin: plugin.definition.name,
      }));
      return [...own, ...plugged];
    },
    validate(spec, path) {
      const task = spec?.task;
      if (task?.case === undefined) {
        const unknown = spec?.$unknown?.[0];
        throw invalidField(
          path,
          unknown
            ? `unknown task type (field number ${unknown.no}); this server runs ${fieldList}`
            : `a task is required: set one of ${fieldList}`,
        );
      }
      if (task.case === "plugin" && pluginTasks) {
        return pluginTasks.validate(task.value, `${path}.plugin`);
      }
      const handler = handlerOf(task.case);
      if (handler === undefined) {
        throw invalidField(`${path}.${task.case}`, `this server does not run ${task.case} tasks`);
      }
      (handler as TaskHandler<typeof task.case>).validate(
        task.value as never,
        `${path}.${task.case}`,
      );
      return taskTypeOf(task.case);
    },
    runsAsSubmitted(spec, specBytes) {
      const field = spec.task.case;
      // Plugins' tasks have no handler here: they are never pure.
      const handler = field === undefined ? undefined : handlerOf(field);
      return handler?.pure === true && runsOnEventLoop(handler.cost, specBytes);
    },
    async run(spec, context) {
      const task = spec.task;
      if (task.case === undefined) throw invalidField("spec", "a task is required");
      if (task.case === "plugin" && pluginTasks) {
        const value = await pluginTasks.run(task.value, context);
        return create(TaskResultSchema, { result: { case: "plugin", value } });
      }
      const handler = handlerOf(task.case) as TaskHandler<typeof task.case>;
      const input = handler.prepare
        ? await handler.prepare(task.value as never, context)
        : (task.value as never);
      const placed = {
        cost: handler.cost,
        request: handler.requestSchema,
        result: handler.resultSchema,
        field: task.case,
        runHere: () => handler.run(input, context),
      };
      const value = await runPlaced(placed, input, context, pool);
      return create(TaskResultSchema, {
        result: { case: task.case, value } as TaskResult["result"],
      });
    },
  };
}
