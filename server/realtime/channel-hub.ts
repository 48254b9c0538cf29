import { create } from "@bufbuild/protobuf";
import type { AuditEvent } from "../../gen/noizylab/agent/v1/audit_pb.js";
import {
  type Channel,
  type ChannelEvent,
  ChannelEventSchema,
  type MetricsSnapshot,
} from "../../gen/noizylab/agent/v1/channel_pb.js";
import type { TaskEventListener } from "../engine/event-bus.js";
import { invalidField } from "../tasks/task-errors.js";

/** ChannelListener receives each event of a subscribed channel. */
export type ChannelListener = (event: ChannelEvent) => void;

/**
 * ChannelHub is the one event bus behind the WebSocket gateway and AgentService.WatchEvents:
 * it routes committed task events and periodic metrics snapshots to the subscribers of each
 * channel. Subscribers share each event object, so it is encoded once however many get it.
 */
export interface ChannelHub {
  /**
   * subscribe starts delivering a channel's events; returns the unsubscribe. With an owner,
   * only the events of that API key's tasks are delivered.
   */
  subscribe(
    channel: Channel | undefined,
    listener: ChannelListener,
    path?: string,
    owner?: string,
  ): () => void;
  /** The number of open subscriptions. */
  readonly subscriptionCount: number;
  /** close stops the metrics timer and drops every subscription. */
  close(): void;
}

/** ChannelHubOptions wire the hub to its sources. */
export interface ChannelHubOptions {
  /** Subscribes to every committed task event, as Engine.onEvent does. */
  readonly taskEvents: (listener: TaskEventListener) => () => void;
  /** Subscribes to every audit event, as AuditLog.onRecord does. */
  readonly auditEvents: (listener: (event: AuditEvent) => void) => () => void;
  /** Takes a metrics snapshot for the metrics channel. */
  readonly snapshot: () => Promise<MetricsSnapshot>;
  /** How often metrics subscribers get a snapshot. */
  readonly metricsIntervalMs: number;
  /** Where failures of background work are reported. */
  readonly onError: (error: unknown) => void;
}

/** Subscriber is a listener, and the API key whose task events alone it gets, if limited. */
interface Subscriber {
  readonly listener: ChannelListener;
  readonly owner: string | undefined;
}

/** createChannelHub makes the hub and starts listening to the engine's events. */
export function createChannelHub(options: ChannelHubOptions): ChannelHub {
  // Subscribers by routing key: "all", "task:<id>", "type:<type>", "metrics" and "audit".
  const routes = new Map<string, Set<Subscriber>>();
  let count = 0;
  let metricsTimer: NodeJS.Timeout | undefined;

  /** deliver hands an event to a route's subscribers; a task's, to those who may see it. */
  function deliver(key: string, event: ChannelEvent, taskKeyId?: string): void {
    const subscribers = routes.get(key);
    if (subscribers === undefined) return;
    for (const { listener, owner } of subscribers) {
      if (owner === undefined || owner === taskKeyId) listener(event);
    }
  }

  // The audit source is followed only while someone subscribes: other instances' events
  // cost a read of the store each.
  let stopAudit: (() => void) | undefined;
  const followAudit = () =>
    options.auditEvents((auditEvent) =>
      deliver(
        "audit",
        create(ChannelEventSchema, { payload: { case: "auditEvent", value: auditEvent } }),
      ),
    );
  const stopEvents = options.taskEvents((taskEvent, { type: taskType, keyId }) => {
    if (routes.size === 0) return;
    const event = create(ChannelEventSchema, {
      payload: { case: "taskEvent", value: taskEvent },
      taskType,
    });
    deliver("all", event, keyId);
    deliver(`task:${taskEvent.taskId}`, event, keyId);
    deliver(`type:${taskType}`, event, keyId);
  });

  function publishMetrics(): void {
    options
      .snapshot()
      .then(
        (metrics) =>
          deliver(
            "metrics",
            create(ChannelEventSchema, { payload: { case: "metrics", value: metrics } }),
          ),
        options.onError,
      );
  }

  function keyOf(channel: Channel | undefined, path: string): string {
    const target = channel?.target;
    switch (target?.case) {
      case "allTasks":
        return "all";
      case "taskId":
      case "taskType":
        if (target.value === "")
          throw invalidField(
            `${path}.${target.case === "taskId" ? "task_id" : "task_type"}`,
            "must not be empty",
          );
        return `${target.case === "taskId" ? "task" : "type"}:${target.value}`;
      case "metrics":
        return "metrics";
      case "audit":
        return "audit";
      default:
        throw invalidField(
          path,
          "a channel is required: set one of all_tasks, task_id, task_type, metrics, audit",
        );
    }
  }

  return {
    subscribe(channel, listener, path = "channel", owner = undefined) {
      const key = keyOf(channel, path);
      let subscribers = routes.get(key);
      if (subscribers === undefined) {
        subscribers = new Set();
        routes.set(key, subscribers);
      }
      const subscriber = { listener, owner };
      subscribers.add(subscriber);
      count++;
      if (key === "metrics" && metricsTimer === undefined) {
        metricsTimer = setInterval(publishMetrics, options.metricsIntervalMs);
        metricsTimer.unref();
      }
      if (key === "audit") stopAudit ??= followAudit();
      let open = true;
      return () => {
        if (!open) return;
        open = false;
        count--;
        subscribers.delete(subscriber);
        if (subscribers.size > 0) return;
        routes.delete(key);
        if (key === "metrics") {
          clearInterval(metricsTimer);
          metricsTimer = undefined;
        }
        if (key === "audit") {
          stopAudit?.();
          stopAudit = undefined;
        }
      };
    },
    get subscriptionCount() {
      return count;
    },
    close() {
      stopEvents();
      stopAudit?.();
      stopAudit = undefined;
      clearInterval(metricsTimer);
      routes.clear();
      count = 0;
    },
  };
}
