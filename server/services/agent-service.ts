import type { ServiceImpl } from "@connectrpc/connect";
import { specFieldOf, taskTypeOf } from "../../clients/shared/task-types.js";
import type { AgentService, Limits } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import type { TaskRegistry } from "../tasks/registry.js";

/** AgentServiceOptions is what the agent service reports about the server. */
export interface AgentServiceOptions {
  readonly version: string;
  readonly registry: TaskRegistry;
  readonly limits: Omit<Limits, "$typeName">;
  readonly features: readonly string[];
}

/** createAgentService answers questions about the agent itself. */
export function createAgentService(options: AgentServiceOptions): ServiceImpl<typeof AgentService> {
  return {
    getCapabilities() {
      return {
        version: options.version,
        taskTypes: options.registry.handlers.map((handler) => ({
          name: taskTypeOf(handler.field),
          specField: specFieldOf(taskTypeOf(handler.field)),
          description: handler.description,
          requestMessage: handler.requestSchema.typeName,
          resultMessage: handler.resultSchema.typeName,
        })),
        limits: options.limits,
        features: [...options.features],
      };
    },
  };
}
