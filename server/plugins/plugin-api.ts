/**
 * The contract between the server and a plugin (see docs/plugins.md). A plugin module
 * default-exports a PluginDefinition; definePlugin and definePluginTask only check its
 * types, so a plugin needs nothing from the server at run time.
 */
import type { DescMessage, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import type { TaskContext, TaskCost } from "../tasks/task-handler.js";

export type { TaskContext, TaskCost } from "../tasks/task-handler.js";

/** PluginTaskDefinition is one task type a plugin provides. */
export interface PluginTaskDefinition<
  Request extends DescMessage = DescMessage,
  Result extends DescMessage = DescMessage,
> {
  /** The task type, in kebab case, for example "csv-parser"; unique on the server. */
  readonly type: string;
  /** What the task does, for GetCapabilities and the CLI. */
  readonly description: string;
  /** The input message. */
  readonly request: Request;
  /** The result message. */
  readonly result: Result;
  /**
   * How its work grows with its input, which decides where it runs (see TaskCost): "heavy"
   * unless it says otherwise, so on the server's worker threads, which import the plugin
   * module themselves; its run must then need nothing but its input and context (onLoad
   * does not run on worker threads). A task declares "linear" or "constant" only when its
   * work is proven to be so: on the event loop, anything more stalls every request.
   */
  readonly cost?: TaskCost;
  /**
   * validate checks an input before the task is queued: it throws an InvalidArgument
   * ConnectError naming the field (path is the input's path, for example "spec.plugin.input").
   */
  validate?(input: MessageShape<Request>, path: string): void;
  /** run does the work. A thrown ConnectError fails the task with its code. */
  run(
    input: MessageShape<Request>,
    context: TaskContext,
  ): MessageInitShape<Result> | Promise<MessageInitShape<Result>>;
}

/** TaskHookEvent is what a task hook hears about the task. */
export interface TaskHookEvent {
  readonly taskId: string;
  readonly type: string;
  readonly input: Message;
}

type Hook<Event> = (event: Event) => void | Promise<void>;

/** PluginDefinition is what a plugin module default-exports. */
export interface PluginDefinition {
  /** The plugin's name: lower case letters, digits, "-", "_" and ".". */
  readonly name: string;
  /** The plugin's version, for example "1.0.0". */
  readonly version: string;
  /** Its task types: one or more. */
  // biome-ignore lint/suspicious/noExplicitAny: each task has its own message types.
  readonly tasks: readonly PluginTaskDefinition<any, any>[];
  /** Runs when the plugin is loaded; if it throws, the plugin is not loaded. */
  onLoad?(): void | Promise<void>;
  /** Runs when the plugin is unloaded, or the server stops. */
  onUnload?(): void | Promise<void>;
  /** Runs before each of its tasks; if it throws, the task fails with that error. */
  beforeTask?: Hook<TaskHookEvent>;
  /** Runs after each of its tasks that succeeded. */
  afterTask?: Hook<TaskHookEvent & { readonly result: Message }>;
  /** Runs after each of its tasks that failed. */
  onError?: Hook<TaskHookEvent & { readonly error: ConnectError }>;
}

/** definePlugin declares a plugin, checking its types. */
export function definePlugin(plugin: PluginDefinition): PluginDefinition {
  return plugin;
}

/** definePluginTask declares a plugin task, checking its handler against its messages. */
export function definePluginTask<Request extends DescMessage, Result extends DescMessage>(
  task: PluginTaskDefinition<Request, Result>,
): PluginTaskDefinition<Request, Result> {
  return task;
}
