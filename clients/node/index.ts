export {
  type RealtimeClient,
  RealtimeError,
  type Subscription,
} from "../shared/realtime-client.js";
export { typeNameOf } from "../shared/task-types.js";
export { type BalancerOptions, createBalancedTransport } from "./balancer.js";
export {
  type AgentClient,
  type AgentClientOptions,
  createAgentClient,
  createAgentTransport,
  type Protocol,
} from "./client.js";
export { fetchTypes } from "./plugin-types.js";
export { connectRealtime } from "./realtime.js";
export type { RunOptions, TaskInit } from "./run-task.js";
