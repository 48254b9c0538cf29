import { timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { AgentService, Limits } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import type { ChannelEvent, RealtimeStats } from "../../gen/noizylab/agent/v1/channel_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import { AsyncQueue } from "../lib/async-queue.js";
import type { PluginHost } from "../plugins/plugin-host.js";
import type { ChannelHub } from "../realtime/channel-hub.js";
import { kCaller } from "../security/context.js";
import { channelScope, hasScope, readableTasksOf, scopeName } from "../security/scopes.js";
import type { AuditStore } from "../store/audit-store.js";
import type { TaskRegistry } from "../tasks/registry.js";
import { checkRange, invalidField } from "../tasks/task-errors.js";

/** AgentServiceOptions is what the agent service reports about the server. */
export interface AgentServiceOptions {
  readonly version: string;
  readonly registry: TaskRegistry;
  readonly limits: Omit<Limits, "$typeName">;
  readonly features: readonly string[];
  readonly hub: ChannelHub;
  readonly audit: AuditLog;
  readonly auditStore: AuditStore;
  /** A WatchEvents stream with no event for this long ends with DeadlineExceeded. */
  readonly streamIdleTimeoutMs: number;
  readonly realtime: () => Omit<RealtimeStats, "$typeName">;
  readonly plugins: PluginHost;
}

// A WatchEvents caller this far behind is a slow consumer, and its stream ends.
const maxPendingEvents = 10_000;

/** createAgentService answers questions about the agent itself. */
export function createAgentService(options: AgentServiceOptions): ServiceImpl<typeof AgentService> {
  return {
    getCapabilities() {
      return {
        version: options.version,
        taskTypes: options.registry.taskTypes(),
        limits: options.limits,
        features: [...options.features],
        realtime: options.realtime(),
      };
    },
    listPlugins() {
      return { plugins: options.plugins.list() };
    },
    async loadPlugin(request) {
      if (request.entry === "") throw invalidField("entry", "is required");
      return { plugin: await options.plugins.load(request.entry) };
    },
    async unloadPlugin(request) {
      if (request.name === "") throw invalidField("name", "is required");
      return { plugin: await options.plugins.unload(request.name) };
    },
    ping(request) {
      return { payload: request.payload, serverTime: timestampNow() };
    },
    async *pingStream(request) {
      checkRange("count", request.count, 1, 100_000);
      for (let i = 0; i < request.count; i++) {
        yield { payload: request.payload, serverTime: timestampNow() };
      }
    },
    async listAuditEvents(request) {
      checkRange("page_size", request.pageSize, 0, 1_000);
      const cursor = request.pageToken === "" ? undefined : Number(request.pageToken);
      if (cursor !== undefined && !Number.isSafeInteger(cursor)) {
        throw invalidField("page_token", "is not a token from a previous ListAuditEvents response");
      }
      // Events still queued in memory belong in the answer too.
      await options.audit.flush();
      const page = await options.auditStore.list({
        since: request.since ? timestampMs(request.since) : undefined,
        until: request.until ? timestampMs(request.until) : undefined,
        keyId: request.keyId,
        refusedOnly: request.refusedOnly,
        beforeCursor: cursor,
        limit: request.pageSize || 100,
      });
      const nextPageToken = page.nextCursor === undefined ? "" : String(page.nextCursor);
      return { events: page.events, nextPageToken };
    },
    async *watchEvents(request, context) {
      if (request.channels.length === 0) {
        throw invalidField("channels", "name at least one channel");
      }
      const caller = context.values.get(kCaller);
      for (const channel of request.channels) {
        const scope = channelScope(channel);
        if (caller && !hasScope(caller, scope)) {
          const message = `API key ${caller.keyId} lacks the ${scopeName(scope)} scope for the ${channel.target.case} channel`;
          throw new ConnectError(message, Code.PermissionDenied);
        }
      }
      const queue = new AsyncQueue<ChannelEvent>(maxPendingEvents);
      let overflowed = false;
      const unsubscribes: (() => void)[] = [];
      try {
        request.channels.forEach((channel, index) => {
          const listener = (event: ChannelEvent) => {
            overflowed ||= !queue.push(event);
          };
          unsubscribes.push(
            options.hub.subscribe(channel, listener, `channels[${index}]`, readableTasksOf(caller)),
          );
        });
        for (;;) {
          if (overflowed) {
            throw new ConnectError(
              `slow consumer: more than ${maxPendingEvents} events behind`,
              Code.ResourceExhausted,
            );
          }
          const event = await queue.take(context.signal, options.streamIdleTimeoutMs);
          if (event === undefined && !context.signal.aborted) {
            const message = `no event for ${options.streamIdleTimeoutMs} ms; watch again to go on`;
            throw new ConnectError(message, Code.DeadlineExceeded);
          }
          if (event === undefined) return;
          yield { event };
        }
      } finally {
        for (const unsubscribe of unsubscribes) unsubscribe();
      }
    },
  };
}
