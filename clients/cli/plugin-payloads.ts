import type { Registry } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Task, TaskEvent, TaskResult } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { AgentClient } from "../node/client.js";
import { fetchTypes } from "../node/plugin-types.js";
import { typeNameOf } from "../shared/task-types.js";

function outputOf(result: TaskResult | undefined): Any[] {
  const output = result?.result.case === "plugin" ? result.result.value.output : undefined;
  return output ? [output] : [];
}

/** payloadsOf lists the Any payloads of plugin tasks in tasks and events: inputs and outputs. */
export function payloadsOf(items: readonly (Task | TaskEvent)[]): Any[] {
  return items.flatMap((item) => {
    if (item.$typeName === "noizylab.agent.v1.TaskEvent") {
      return item.kind.case === "result" ? outputOf(item.kind.value) : [];
    }
    const task = item.spec?.task;
    const input = task?.case === "plugin" ? task.value.input : undefined;
    return [...(input ? [input] : []), ...outputOf(item.result)];
  });
}

/**
 * typesFor fetches the plugin message types of the payloads from the server, so they can be
 * printed as JSON; undefined when there are none.
 */
export async function typesFor(
  client: AgentClient,
  items: readonly (Task | TaskEvent)[],
): Promise<Registry | undefined> {
  const payloads = payloadsOf(items);
  if (payloads.length === 0) return undefined;
  return fetchTypes(
    client.reflection,
    payloads.map((payload) => typeNameOf(payload.typeUrl)),
  );
}
