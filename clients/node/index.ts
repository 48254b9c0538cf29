export {
  type AgentClient,
  type AgentClientOptions,
  createAgentClient,
  createAgentTransport,
  type Protocol,
} from "./client.js";
export type { RunOptions, TaskInit } from "./run-task.js";
