import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import type { Channel } from "../../gen/noizylab/agent/v1/channel_pb.js";
import { KeyService, Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import type { RateLimit } from "./rate-limiter.js";

/** Caller is who a request comes from: the key it carried and what that key may do. */
export interface Caller {
  readonly keyId: string;
  readonly scopes: ReadonlySet<Scope>;
  /** The key's own rate limit, if it has one. */
  readonly rateLimit?: RateLimit | undefined;
  /** The key requests are signed with, and whether they must be. */
  readonly signing?: { readonly key: Uint8Array; readonly required: boolean } | undefined;
  /** When the key expires, in milliseconds since the epoch; undefined for never. */
  readonly expiresAt?: number | undefined;
}

/** Access is what a procedure needs: nothing, any valid key, or a key with a scope. */
export type Access = "open" | "key" | Scope;

const procedure = (service: { typeName: string }, method: string) =>
  `/${service.typeName}/${method}`;

const access = new Map<string, Access>([
  [procedure(TaskService, "Submit"), Scope.TASKS_SUBMIT],
  [procedure(TaskService, "Run"), Scope.TASKS_SUBMIT],
  [procedure(TaskService, "SubmitBatch"), Scope.TASKS_SUBMIT],
  [procedure(TaskService, "CancelTask"), Scope.TASKS_SUBMIT],
  [procedure(TaskService, "GetTask"), Scope.TASKS_READ],
  [procedure(TaskService, "ListTasks"), Scope.TASKS_READ],
  [procedure(TaskService, "WatchTask"), Scope.TASKS_READ],
  [procedure(AgentService, "GetCapabilities"), "key"],
  [procedure(AgentService, "Ping"), "key"],
  [procedure(AgentService, "PingStream"), "key"],
  // Each channel needs its own scope (see channelScope): metrics:read keys watch metrics.
  [procedure(AgentService, "WatchEvents"), "key"],
  [procedure(AgentService, "ListAuditEvents"), Scope.ADMIN],
  [procedure(AgentService, "ListPlugins"), Scope.ADMIN],
  [procedure(AgentService, "LoadPlugin"), Scope.ADMIN],
  [procedure(AgentService, "UnloadPlugin"), Scope.ADMIN],
  [procedure(KeyService, "CreateKey"), Scope.ADMIN],
  [procedure(KeyService, "ListKeys"), Scope.ADMIN],
  [procedure(KeyService, "RevokeKey"), Scope.ADMIN],
]);

/**
 * accessOf is what a procedure needs. Health checks stay open, as load balancers expect;
 * everything else (reflection, unknown paths and the WebSocket gateway included) needs a key,
 * unless the operator opened its path.
 */
export function accessOf(path: string, openPaths: readonly string[]): Access {
  if (path.startsWith("/grpc.health.v1.Health/")) return "open";
  if (
    openPaths.some((open) =>
      open.endsWith("*") ? path.startsWith(open.slice(0, -1)) : path === open,
    )
  ) {
    return "open";
  }
  return access.get(path) ?? "key";
}

/** hasScope tells whether a caller holds a scope; admin holds them all. */
export function hasScope(caller: Caller, scope: Scope): boolean {
  return caller.scopes.has(Scope.ADMIN) || caller.scopes.has(scope);
}

/** scopeName is a scope as people write it: SCOPE_TASKS_READ_ALL is "tasks:read:all". */
export function scopeName(scope: Scope): string {
  return (Scope[scope] ?? String(scope)).toLowerCase().replaceAll("_", ":");
}

/** parseScope reads a scope as people write it ("tasks:submit", "tasks:read:all", "admin"). */
export function parseScope(name: string): Scope | undefined {
  const value = Scope[name.toUpperCase().replaceAll(":", "_") as keyof typeof Scope];
  return typeof value === "number" && value !== Scope.UNSPECIFIED ? value : undefined;
}

/**
 * readableTasksOf is the key whose tasks alone a caller may read and watch: its own, unless it
 * holds tasks:read:all (or admin); undefined when it may read every key's (an open path's
 * caller too, as the operator opened it to everyone).
 */
export function readableTasksOf(caller: Caller | undefined): string | undefined {
  return caller && !hasScope(caller, Scope.TASKS_READ_ALL) ? caller.keyId : undefined;
}

/**
 * cancellableTasksOf is the key whose tasks alone a caller may cancel: its own, unless it is
 * an admin; undefined when it may cancel every key's.
 */
export function cancellableTasksOf(caller: Caller | undefined): string | undefined {
  return caller && !hasScope(caller, Scope.ADMIN) ? caller.keyId : undefined;
}

/** channelScope is the scope a channel needs: metrics:read, admin for the audit stream, else tasks:read. */
export function channelScope(channel: Channel | undefined): Scope {
  switch (channel?.target.case) {
    case "metrics":
      return Scope.METRICS_READ;
    case "audit":
      return Scope.ADMIN;
    default:
      return Scope.TASKS_READ;
  }
}
