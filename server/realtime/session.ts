import { randomUUID } from "node:crypto";
import { create, type MessageInitShape, type Registry } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { WebSocket } from "ws";
import { ChannelEventSchema } from "../../gen/noizylab/agent/v1/channel_pb.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import {
  type ClientFrame,
  ServerFrameSchema,
  type TaskFrame,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";
import { SubmitResponseSchema } from "../../gen/noizylab/agent/v1/task_service_pb.js";
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
import {
  decodeClientFrame,
  encodeEventFrame,
  encodeFrame,
  type FrameFormat,
} from "./frame-codec.js";

/** SessionLimits bound one WebSocket session. */
export interface SessionLimits {
  /** How often the server pings; a session that has not answered the last ping is dropped. */
  readonly heartbeatMs: number;
  /** A session with no client frame for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Frames larger than this are refused with an error frame. */
  readonly maxFrameBytes: number;
  /** The most subscriptions one session may hold. */
  readonly maxSubscriptions: number;
  /** A session whose unsent data passes this is a slow consumer, and is disconnected. */
  readonly maxBufferedBytes: number;
}

/** Close codes the gateway uses, with the reason sent along. */
export const closeCodes = {
  shutdown: 1001,
  heartbeat: 4001,
  idle: 4002,
  slowConsumer: 4003,
  unauthenticated: 4401,
} as const;

// How long a closing peer has to read what is left and answer the close frame.
const closeGraceMs = 5_000;

/** SessionInfo describes a session for operators. */
export interface SessionInfo {
  readonly id: string;
  readonly peer: string;
  readonly connectedAt: Date;
  readonly subscriptions: number;
}

/**
 * SessionAuth is how a session knows its caller: from the upgrade, or from an auth frame that
 * must arrive within timeoutMs (authenticate checks its key, or throws the refusal).
 */
export type SessionAuth =
  | { readonly caller: Caller | undefined }
  | { readonly timeoutMs: number; authenticate(apiKey: string): Promise<Caller | undefined> };

/** SessionOptions are what a session needs from the gateway. */
export interface SessionOptions {
  readonly socket: WebSocket;
  readonly format: FrameFormat;
  /** The plugins' message types, for Any payloads in JSON frames. */
  readonly types: Registry;
  readonly peer: string;
  readonly engine: Engine;
  readonly hub: ChannelHub;
  readonly limits: SessionLimits;
  readonly auth: SessionAuth;
}

/**
 * Session serves one WebSocket: it answers client frames, forwards subscribed channels, and
 * guards the server against clients that vanish, idle or cannot keep up.
 */
export class Session {
  readonly id = randomUUID();
  readonly connectedAt = new Date();
  private readonly subscriptions = new Map<string, () => void>();
  private readonly closed = new AbortController();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly idle: NodeJS.Timeout;
  private alive = true;
  private nextSubscription = 0;
  private caller: Caller | undefined;
  private authenticated: boolean;
  private readonly authTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SessionOptions) {
    const { socket, limits } = options;
    socket.on("message", (data: Buffer, isBinary) => this.receive(data, isBinary));
    socket.on("pong", () => {
      this.alive = true;
    });
    socket.once("close", () => this.dispose());
    socket.on("error", () => socket.terminate());
    this.heartbeat = setInterval(() => this.beat(), limits.heartbeatMs);
    this.idle = setTimeout(() => this.close(closeCodes.idle, "idle timeout"), limits.idleTimeoutMs);
    const auth = options.auth;
    this.authenticated = "caller" in auth;
    this.caller = "caller" in auth ? auth.caller : undefined;
    if (!("caller" in auth)) {
      this.authTimer = setTimeout(
        () => this.close(closeCodes.unauthenticated, "authentication required"),
        auth.timeoutMs,
      );
    }
    this.send({
      kind: {
        case: "welcome",
        value: {
          sessionId: this.id,
          heartbeatIntervalMs: limits.heartbeatMs,
          idleTimeoutMs: limits.idleTimeoutMs,
          maxFrameBytes: limits.maxFrameBytes,
          maxSubscriptions: limits.maxSubscriptions,
          authenticated: this.authenticated,
          authTimeoutMs: "timeoutMs" in auth ? auth.timeoutMs : 0,
        },
      },
    });
  }

  /** info describes the session. */
  info(): SessionInfo {
    return {
      id: this.id,
      peer: this.options.peer,
      connectedAt: this.connectedAt,
      subscriptions: this.subscriptions.size,
    };
  }

  /** close ends the session with a code and a reason. */
  close(code: number, reason: string): void {
    this.options.socket.close(code, reason);
    // A peer that never completes the close handshake is cut off.
    setTimeout(() => this.options.socket.terminate(), closeGraceMs).unref();
  }

  private beat(): void {
    if (!this.alive) {
      this.options.socket.terminate();
      return;
    }
    this.alive = false;
    this.options.socket.ping();
  }

  private dispose(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.idle);
    clearTimeout(this.authTimer);
    this.closed.abort();
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
  }

  private write(data: string | Uint8Array): void {
    const { socket, limits } = this.options;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > limits.maxBufferedBytes) {
      this.dropSlowConsumer();
      return;
    }
    socket.send(data);
  }

  private dropSlowConsumer(): void {
    if (this.closed.signal.aborted) return;
    this.dispose();
    const error = {
      code: "resource_exhausted",
      message: "slow consumer: the session fell too far behind its events",
    };
    this.options.socket.send(
      encodeFrame(
        create(ServerFrameSchema, { kind: { case: "error", value: error } }),
        this.options.format,
        this.options.types,
      ),
    );
    this.close(closeCodes.slowConsumer, "slow consumer");
  }

  private send(frame: MessageInitShape<typeof ServerFrameSchema>): void {
    this.write(
      encodeFrame(create(ServerFrameSchema, frame), this.options.format, this.options.types),
    );
  }

  private sendError(requestId: string, error: unknown): void {
    const connectError = ConnectError.from(error, Code.InvalidArgument);
    this.send({
      requestId,
      kind: {
        case: "error",
        value: { code: codeToString(connectError.code), message: connectError.rawMessage },
      },
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.idle.refresh();
    if (data.byteLength > this.options.limits.maxFrameBytes) {
      const message = `frame of ${data.byteLength} bytes exceeds the ${this.options.limits.maxFrameBytes}-byte limit`;
      this.sendError("", new ConnectError(message, Code.ResourceExhausted));
      return;
    }
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(data, isBinary, this.options.types);
    } catch (error) {
      this.sendError(
        "",
        new ConnectError(
          `malformed frame: ${ConnectError.from(error).rawMessage}`,
          Code.InvalidArgument,
        ),
      );
      return;
    }
    this.dispatch(frame).catch((error: unknown) => this.sendError(frame.requestId, error));
  }

  private async dispatch(frame: ClientFrame): Promise<void> {
    const { requestId, kind } = frame;
    if (kind.case === "auth") return this.authenticate(requestId, kind.value.apiKey);
    if (!this.authenticated) {
      throw new ConnectError(
        "authenticate first: send an auth frame with an API key",
        Code.Unauthenticated,
      );
    }
    switch (kind.case) {
      case "ping":
        this.send({ requestId, kind: { case: "pong", value: { nonce: kind.value.nonce } } });
        return;
      case "pong":
        return;
      case "task":
        return this.submit(requestId, kind.value);
      case "subscribe":
        return this.subscribe(requestId, kind.value.channel);
      case "unsubscribe": {
        const id = kind.value.subscriptionId;
        const unsubscribe = this.subscriptions.get(id);
        if (unsubscribe === undefined)
          throw new ConnectError(`no subscription ${JSON.stringify(id)}`, Code.NotFound);
        unsubscribe();
        this.subscriptions.delete(id);
        this.send({ requestId, kind: { case: "unsubscribed", value: { subscriptionId: id } } });
        return;
      }
      default:
        throw new ConnectError(
          "unknown frame kind: set one of ping, pong, task, subscribe, unsubscribe",
          Code.InvalidArgument,
        );
    }
  }

  private async authenticate(requestId: string, apiKey: string): Promise<void> {
    const auth = this.options.auth;
    if (this.authenticated || "caller" in auth) {
      throw new ConnectError("the session is already authenticated", Code.FailedPrecondition);
    }
    try {
      this.caller = await auth.authenticate(apiKey);
    } catch (error) {
      this.sendError(requestId, error);
      this.close(closeCodes.unauthenticated, "authentication failed");
      return;
    }
    this.authenticated = true;
    clearTimeout(this.authTimer);
    this.send({
      requestId,
      kind: { case: "authenticated", value: { keyId: this.caller?.keyId ?? "" } },
    });
  }

  /** require throws PermissionDenied unless the session's key holds the scope. */
  private require(scope: Scope, what: string): void {
    if (this.caller && !hasScope(this.caller, scope)) {
      const message = `API key ${this.caller.keyId} lacks the ${scopeName(scope)} scope to ${what}`;
      throw new ConnectError(message, Code.PermissionDenied);
    }
  }

  private async submit(requestId: string, frame: TaskFrame): Promise<void> {
    this.require(Scope.TASKS_SUBMIT, "submit tasks");
    const submit = frame.submit;
    if (submit === undefined)
      throw new ConnectError("task.submit is required", Code.InvalidArgument);
    const submitted = await this.options.engine.submit({ ...submit, keyId: this.caller?.keyId });
    this.send({
      requestId,
      kind: { case: "task", value: create(SubmitResponseSchema, submitted) },
    });
    const { task } = submitted;
    for await (const event of this.options.engine.watchTask(task.id, 0n, this.closed.signal)) {
      if (isTerminal(event.state)) {
        this.send({ requestId, kind: { case: "result", value: event } });
      } else if (frame.streamEvents) {
        const value = create(ChannelEventSchema, {
          payload: { case: "taskEvent", value: event },
          taskType: task.type,
        });
        this.send({ requestId, kind: { case: "event", value } });
      }
    }
  }

  private async subscribe(
    requestId: string,
    channel: Parameters<ChannelHub["subscribe"]>[0],
  ): Promise<void> {
    this.require(channelScope(channel), `subscribe to the ${channel?.target.case ?? "?"} channel`);
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
      (event) => this.write(encodeEventFrame(event, id, format, types)),
      "subscribe.channel",
      readableTasksOf(this.caller),
    );
    this.subscriptions.set(id, unsubscribe);
    this.send({ requestId, kind: { case: "subscribed", value: { subscriptionId: id, channel } } });
  }
}
