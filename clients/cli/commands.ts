import {
  type DescMessage,
  fromJson,
  type JsonValue,
  type Registry,
  toJson,
} from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { TaskTypeInfoSchema } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import {
  TaskResultSchema,
  type TaskSpec,
  TaskSpecSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import type { AgentClient } from "../node/client.js";
import { fetchTypes } from "../node/plugin-types.js";
import { specFieldOf } from "../shared/task-types.js";
import {
  type CommandInput,
  dateOption,
  integerOption,
  listOption,
  option,
} from "./command-input.js";
import {
  describeEvent,
  describeRow,
  describeTask,
  eventJson,
  parseState,
  taskJson,
} from "./format.js";
import { typesFor } from "./plugin-payloads.js";
import { UsageError } from "./usage.js";

function positional(input: CommandInput, index: number, name: string): string {
  const value = input.positionals[index];
  if (value === undefined) throw new UsageError(`missing <${name}>`);
  return value;
}

/** TaskRequest is a submit built from the command line, with the plugin types it uses. */
interface TaskRequest {
  readonly spec: TaskSpec;
  /** For a plugin task: its input and result types, fetched from the server. */
  readonly types?: Registry | undefined;
}

/** dataOf reads --data: the JSON of a task's input. */
function dataOf(input: CommandInput): JsonValue {
  const data = option(input, "data") ?? "{}";
  try {
    return JSON.parse(data) as JsonValue;
  } catch (cause) {
    throw new UsageError(
      `--data is not valid JSON: ${cause instanceof Error ? cause.message : cause}`,
    );
  }
}

/**
 * specOf builds a TaskSpec from a task type and the JSON of its input. A plugin's type is
 * looked up in the server's capabilities, and its messages fetched by reflection.
 */
async function specOf(client: AgentClient, input: CommandInput): Promise<TaskRequest> {
  const type = positional(input, 0, "type");
  const value = dataOf(input);
  const field = specFieldOf(type);
  const fits = (build: () => TaskSpec) => {
    try {
      return build();
    } catch (cause) {
      throw new UsageError(
        `--data does not fit a ${type} task: ${cause instanceof Error ? cause.message : cause}`,
      );
    }
  };
  if (field !== "plugin" && TaskSpecSchema.fields.some((f) => f.name === field)) {
    return { spec: fits(() => fromJson(TaskSpecSchema, { [field]: value })) };
  }
  const { taskTypes } = await client.agent.getCapabilities({});
  const info = taskTypes.find((t) => t.name === type && t.specField === "plugin");
  if (info === undefined) {
    const known = taskTypes.map((t) => t.name).join(", ");
    throw new UsageError(`unknown task type ${JSON.stringify(type)}; known types: ${known}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--data of a ${type} task must be a JSON object`);
  }
  const types = await fetchTypes(client.reflection, [info.requestMessage, info.resultMessage]);
  const packed = { "@type": `type.googleapis.com/${info.requestMessage}`, ...value };
  const plugin = { type, input: packed };
  return { spec: fits(() => fromJson(TaskSpecSchema, { plugin }, { registry: types })), types };
}

function submitFields(input: CommandInput, spec: TaskSpec) {
  return {
    spec,
    priority: integerOption(input, "priority"),
    idempotencyKey: option(input, "idempotency-key") ?? "",
    timeoutMs: integerOption(input, "timeout") ?? 0,
  };
}

function printJson(
  input: CommandInput,
  schema: DescMessage,
  message: never,
  types: Registry | undefined,
): void {
  const json = toJson(schema, message, { registry: types });
  input.out(JSON.stringify(json, null, input.json ? undefined : 2));
}

/** run submits a task, shows its progress on stderr and prints its result; 1 if it failed. */
export async function runCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const { spec, types } = await specOf(client, input);
  let code: number | undefined;
  // The stream ends right after the task's last event; reading it to the end closes it cleanly.
  for await (const { event } of client.tasks.run(submitFields(input, spec))) {
    if (event === undefined) continue;
    if (input.json) input.out(eventJson(event, types));
    else if (event.kind.case !== "result") input.err(describeEvent(event));
    if (event.kind.case === "result") {
      if (!input.json) printJson(input, TaskResultSchema, event.kind.value as never, types);
      code = 0;
    }
    if (event.kind.case === "error") code = 1;
  }
  if (code === undefined) {
    input.err("the stream ended before the task finished; follow it with cloudagent watch");
  }
  return code ?? 1;
}

/** submit queues a task and prints its id (or the task, with --json). */
export async function submitCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const { spec, types } = await specOf(client, input);
  const { task, created } = await client.tasks.submit(submitFields(input, spec));
  if (task === undefined) return 1;
  if (input.json) input.out(taskJson(task, types));
  else input.out(created ? task.id : `${task.id} (existing task with this idempotency key)`);
  return 0;
}

const pings = 5;

/**
 * serverStatus shows the server's version, health and round-trip latency: the median of a
 * few Pings, each checked to echo its payload.
 */
async function serverStatus(client: AgentClient, input: CommandInput): Promise<number> {
  const { version } = await client.agent.getCapabilities({});
  const { status } = await client.health.check({});
  const payload = crypto.getRandomValues(new Uint8Array(64));
  const times: number[] = [];
  for (let i = 0; i < pings; i++) {
    const started = performance.now();
    const answer = await client.agent.ping({ payload });
    times.push(performance.now() - started);
    if (Buffer.compare(answer.payload, payload) !== 0) {
      input.err("cloudagent: the server's ping answer differs from what was sent");
      return 1;
    }
  }
  const latencyMs = Math.round((times.sort((a, b) => a - b)[pings >> 1] ?? 0) * 100) / 100;
  const health = HealthCheckResponse_ServingStatus[status] ?? String(status);
  if (input.json) {
    input.out(JSON.stringify({ version, health, latencyMs }));
  } else {
    input.out(`version  ${version}`);
    input.out(`health   ${health.toLowerCase().replaceAll("_", " ")}`);
    input.out(`latency  ${latencyMs} ms (median of ${pings} pings)`);
  }
  return status === HealthCheckResponse_ServingStatus.SERVING ? 0 : 1;
}

/** status shows one task, or without an id, the server's version, health and latency. */
export async function statusCommand(client: AgentClient, input: CommandInput): Promise<number> {
  if (input.positionals.length === 0) return serverStatus(client, input);
  const { task } = await client.tasks.getTask({ taskId: positional(input, 0, "id") });
  if (task === undefined) return 1;
  const types = await typesFor(client, [task]);
  input.out(input.json ? taskJson(task, types) : describeTask(task, types));
  return 0;
}

/** watch follows a task's events until it ends; 1 if it failed or was cancelled. */
export async function watchCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const request = {
    taskId: positional(input, 0, "id"),
    afterSequence: BigInt(integerOption(input, "after") ?? 0),
  };
  let code = 0;
  for await (const { event } of client.tasks.watchTask(request)) {
    if (event === undefined) continue;
    const types = await typesFor(client, [event]);
    input.out(input.json ? eventJson(event, types) : describeEvent(event, types));
    if (event.kind.case === "error") code = 1;
  }
  return code;
}

/** cancel cancels a task and shows it. */
export async function cancelCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const { task } = await client.tasks.cancelTask({
    taskId: positional(input, 0, "id"),
    reason: option(input, "reason") ?? "",
  });
  if (task === undefined) return 1;
  const types = await typesFor(client, [task]);
  input.out(input.json ? taskJson(task, types) : describeTask(task, types));
  return 0;
}

/** list shows one page of tasks, newest first. */
export async function listCommand(client: AgentClient, input: CommandInput): Promise<number> {
  let states: ReturnType<typeof parseState>[];
  try {
    states = listOption(input, "state").map(parseState);
  } catch (cause) {
    throw new UsageError(cause instanceof Error ? cause.message : String(cause));
  }
  const since = dateOption(input, "since");
  const response = await client.tasks.listTasks({
    states,
    types: listOption(input, "type"),
    pageSize: integerOption(input, "limit") ?? 0,
    pageToken: option(input, "page-token") ?? "",
    createdAfter: since && timestampFromDate(since),
  });
  const types = input.json ? await typesFor(client, response.tasks) : undefined;
  for (const task of response.tasks)
    input.out(input.json ? taskJson(task, types) : describeRow(task));
  if (response.nextPageToken !== "" && !input.json) {
    input.err(`more: cloudagent list --page-token ${response.nextPageToken}`);
  }
  return 0;
}

/** types lists the task types the server runs, its own and its plugins'. */
export async function typesCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const { taskTypes } = await client.agent.getCapabilities({});
  for (const type of taskTypes) {
    if (input.json) {
      input.out(JSON.stringify(toJson(TaskTypeInfoSchema, type)));
      continue;
    }
    const origin = type.plugin ? `plugin ${type.plugin}` : "built in";
    input.out(`${type.name.padEnd(20)} ${origin.padEnd(26)} ${type.description}`);
  }
  return 0;
}
