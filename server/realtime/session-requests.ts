import { create, type MessageInitShape, type Registry } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { ChannelEventSchema } from "../../gen/noizylab/agent/v1/channel_pb.js";
import type {
  ClientFrame,
  ServerFrameSchema,
  TaskFrame,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";
import { SubmitResponseSchema } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { noteTask } from "../audit/audit-interceptor.js";
import type { Engine } from "../engine/engine.js";
import {
  type Caller,
  channelScope,
  hasScope,
  readableTasksOf,
  scopeName,
} from "../security/scopes.js";
import { isTerminal } from "../store/task-projection.js";
import type { ChannelHub } from "./channel-hub.js";
import { encodeEventFrame, type FrameFormat } from "./frame-codec.js";
import type { FrameCall } from "./frame-door.js";

/** SessionRequestsOptions are what answering a session's frames needs. */
export interface SessionRequestsOptions {
  readonly engine: Engine;
  readonly hub: ChannelHub;
  readonly format: FrameFormat;
  readonly types: Registry;
  readonly limits: { readonly maxSubscriptions: number };
  /** send encodes a frame and writes it; it returns the bytes written. */
  readonly send: (frame: MessageInitShape<typeof ServerFrameSchema>) => number;
  /** write writes an encoded frame; it returns the bytes written. */
  readonly write: (data: string | Uint8Array) => number;
  /** Aborted when the session closes. */
  readonly closed: AbortSignal;
}

/**
 * SessionRequests answers the request frames a session's door let in, each as the call it
 * stands for (ping, Submit, WatchEvents), and keeps the session's subscriptions.
 */
export class SessionRequests {
  private readonly subscriptions = new Map<string, () => void>();
  private nextSubscription = 0;

  constructor(private readonly options: SessionRequestsOptions) {}

  /** The subscriptions open now. */
  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** dispose ends every subscription. */
  dispose(): void {
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
  }

  /** answer answers a frame let in, and finishes its audit event with the outcome. */
  answer(frame: ClientFrame, call: FrameCall): void {
    this.handle(frame, call).then(
      (bytesOut) => call.finish(undefined, bytesOut),
      (reason: unknown) => {
        const error = ConnectError.from(reason, Code.InvalidArgument);
        const bytesOut = this.options.send({
          requestId: frame.requestId,
          kind: {
            case: "error",
            value: { code: codeToString(error.code), message: error.rawMessage },
          },
        });
        call.finish(error, bytesOut);
      },
    );
  }

  /** handle serves a frame; it resolves with the bytes of its answer. */
  private async handle(frame: ClientFrame, call: FrameCall): Promise<number> {
    const { requestId, kind } = frame;
    const caller = call.admission.caller;
    switch (kind.case) {
      case "ping":
        return this.options.send({
          requestId,
          kind: { case: "pong", value: { nonce: kind.value.nonce } },
        });
      case "task":
        return this.submit(requestId, kind.value, caller, call);
      case "subscribe":
        return this.subscribe(requestId, kind.value.channel, caller);
      case "unsubscribe": {
        const id = kind.value.subscriptionId;
        const unsubscribe = this.subscriptions.get(id);
        if (unsubscribe === undefined)
          throw new ConnectError(`no subscription ${JSON.stringify(id)}`, Code.NotFound);
        unsubscribe();
        this.subscriptions.delete(id);
        return this.options.send({
          requestId,
          kind: { case: "unsubscribed", value: { subscriptionId: id } },
        });
      }
      default:
        throw new ConnectError(`a ${kind.case} frame asks for nothing`, Code.InvalidArgument);
    }
  }

  /**
   * submit submits a task, answers with it as committed, then sends its end (and, if asked,
   * its events) as they come; the frame's audit event is finished at the first answer.
   */
  private async submit(
    requestId: string,
    frame: TaskFrame,
    caller: Caller | undefined,
    call: FrameCall,
  ): Promise<number> {
    const submit = frame.submit;
    if (submit === undefined)
      throw new ConnectError("task.submit is required", Code.InvalidArgument);
    const submitted = await this.options.engine.submit({ ...submit, keyId: caller?.keyId });
    noteTask(call.draft, submitted);
    const bytesOut = this.options.send({
      requestId,
      kind: { case: "task", value: create(SubmitResponseSchema, submitted) },
    });
    this.follow(requestId, submitted.task.id, submitted.task.type, frame.streamEvents);
    return bytesOut;
  }

  /** follow sends a submitted task's end, and its other events if asked, as they come. */
  private follow(requestId: string, taskId: string, taskType: string, allEvents: boolean): void {
    (async () => {
      for await (const event of this.options.engine.watchTask(taskId, 0n, this.options.closed)) {
        if (isTerminal(event.state)) {
          this.options.send({ requestId, kind: { case: "result", value: event } });
        } else if (allEvents) {
          const value = create(ChannelEventSchema, {
            payload: { case: "taskEvent", value: event },
            taskType,
          });
          this.options.send({ requestId, kind: { case: "event", value } });
        }
      }
    })().catch((error: unknown) => {
      const connectError = ConnectError.from(error);
      this.options.send({
        requestId,
        kind: {
          case: "error",
          value: { code: codeToString(connectError.code), message: connectError.rawMessage },
        },
      });
    });
  }

  private subscribe(
    requestId: string,
    channel: Parameters<ChannelHub["subscribe"]>[0],
    caller: Caller | undefined,
  ): number {
    const scope = channelScope(channel);
    if (caller && !hasScope(caller, scope)) {
      const what = `subscribe to the ${channel?.target.case ?? "?"} channel`;
      const message = `API key ${caller.keyId} lacks the ${scopeName(scope)} scope to ${what}`;
      throw new ConnectError(message, Code.PermissionDenied);
    }
    if (this.subscriptions.size >= this.options.limits.maxSubscriptions) {
      throw new ConnectError(
        `at most ${this.options.limits.maxSubscriptions} subscriptions per session`,
        Code.ResourceExhausted,
      );
    }
    const id = String(++this.nextSubscription);
    const { format, types } = this.options;
    const unsubscribe = this.options.hub.subscribe(
      channel,
      (event) => this.options.write(encodeEventFrame(event, id, format, types)),
      "subscribe.channel",
      readableTasksOf(caller),
    );
    this.subscriptions.set(id, unsubscribe);
    return this.options.send({
      requestId,
      kind: { case: "subscribed", value: { subscriptionId: id, channel } },
    });
  }
}
