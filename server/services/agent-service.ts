import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { specFieldOf, taskTypeOf } from "../../clients/shared/task-types.js";
import type { AgentService, Limits } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import type { ChannelEvent, RealtimeStats } from "../../gen/noizylab/agent/v1/channel_pb.js";
import { AsyncQueue } from "../lib/async-queue.js";
import type { ChannelHub } from "../realtime/channel-hub.js";
import type { TaskRegistry } from "../tasks/registry.js";
import { invalidField } from "../tasks/task-errors.js";

/** AgentServiceOptions is what the agent service reports about the server. */
export interface AgentServiceOptions {
  readonly version: string;
  readonly registry: TaskRegistry;
  readonly limits: Omit<Limits, "$typeName">;
  readonly features: readonly string[];
  readonly hub: ChannelHub;
  readonly realtime: () => Omit<RealtimeStats, "$typeName">;
}

// A WatchEvents caller this far behind is a slow consumer, and its stream ends.
const maxPendingEvents = 10_000;

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
        realtime: options.realtime(),
      };
    },
    async *watchEvents(request, context) {
      if (request.channels.length === 0)
        throw invalidField("channels", "name at least one channel");
      const queue = new AsyncQueue<ChannelEvent>(maxPendingEvents);
      let overflowed = false;
      const unsubscribes: (() => void)[] = [];
      try {
        request.channels.forEach((channel, index) => {
          const listener = (event: ChannelEvent) => {
            overflowed ||= !queue.push(event);
          };
          unsubscribes.push(options.hub.subscribe(channel, listener, `channels[${index}]`));
        });
        for (;;) {
          if (overflowed) {
            throw new ConnectError(
              `slow consumer: more than ${maxPendingEvents} events behind`,
              Code.ResourceExhausted,
            );
          }
          const event = await queue.take(context.signal);
          if (event === undefined) return;
          yield { event };
        }
      } finally {
        for (const unsubscribe of unsubscribes) unsubscribe();
      }
    },
  };
}
