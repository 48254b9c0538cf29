import {
  create,
  fromBinary,
  fromJsonString,
  type MessageInitShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import type { ChannelEvent, ChannelSchema } from "../../gen/noizylab/agent/v1/channel_pb.js";
import {
  type ClientFrame,
  ClientFrameSchema,
  type ServerFrame,
  ServerFrameSchema,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";
import type { TaskEvent } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { SubmitRequestSchema } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { parseKey } from "./api-key.js";
import { deriveSigningKey, newNonce, sha256Hex, signFields } from "./request-signing.js";

/** WebSocketLike is the part of the WHATWG WebSocket the client uses (browsers' and ws's). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** WebSocketConstructor makes a WebSocketLike, as `new WebSocket(url, protocols)` does. */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

/** RealtimeClientOptions configure a connection to the gateway. */
export interface RealtimeClientOptions {
  /** The gateway's URL, for example "ws://127.0.0.1:8080/ws". */
  readonly url: string;
  /** The WebSocket implementation: globalThis.WebSocket in browsers, ws's in Node. */
  readonly WebSocket: WebSocketConstructor;
  /** The API key; sent in an auth frame first thing on every connection. */
  readonly apiKey?: string | undefined;
  /**
   * Also sign each session with the key (see docs/security.md): needed for keys that
   * require signed requests.
   */
  readonly sign?: boolean;
  /** Binary Protobuf frames instead of JSON text. */
  readonly binary?: boolean;
  /** Reconnect backoff: the first delay, doubling up to the largest (250 ms to 10 s by default). */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /** Told of every error frame that answers no request of this client. */
  readonly onError?: (code: string, message: string) => void;
}

/** Subscription is an open channel subscription; it survives reconnects. */
export interface Subscription {
  /** unsubscribe stops the events and tells the server. */
  unsubscribe(): Promise<void>;
}

/** RealtimeClient is a typed client of the WebSocket gateway. */
export interface RealtimeClient {
  /** The current session's id, once the server has welcomed it. */
  readonly sessionId: string | undefined;
  /**
   * submit queues a task over the socket and resolves with its last event (a result or an
   * error). onEvent, when given, gets each event before that, progress included.
   */
  submit(
    request: MessageInitShape<typeof SubmitRequestSchema>,
    options?: { onEvent?: (event: TaskEvent) => void },
  ): Promise<TaskEvent>;
  /** subscribe delivers a channel's events to listener, and again after each reconnect. */
  subscribe(
    channel: MessageInitShape<typeof ChannelSchema>,
    listener: (event: ChannelEvent) => void,
  ): Promise<Subscription>;
  /** ping measures a round trip to the server in milliseconds. */
  ping(): Promise<number>;
  /** close ends the session for good: no reconnect. */
  close(): void;
}

interface Pending {
  resolve(frame: ServerFrame): void;
  reject(error: Error): void;
  onEvent?: ((event: TaskEvent) => void) | undefined;
}

interface LocalSubscription {
  readonly channel: MessageInitShape<typeof ChannelSchema>;
  readonly listener: (event: ChannelEvent) => void;
  /** The server's id for it in the current session, once subscribed there. */
  serverId?: string | undefined;
  /** Whether the server has confirmed it once: such subscriptions are renewed on reconnect. */
  established: boolean;
}

/** RealtimeError is an error frame that answered one of the client's requests. */
export class RealtimeError extends Error {
  override name = "RealtimeError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** The path a session's signature covers: the gateway's (see docs/security.md). */
const gatewayPath = "/ws";

/** authFrame is the auth frame of a session: its key, and its signature when asked. */
async function authFrame(apiKey: string, sign: boolean): Promise<ClientFrame> {
  if (!sign) return create(ClientFrameSchema, { kind: { case: "auth", value: { apiKey } } });
  const parsed = parseKey(apiKey);
  if (parsed === undefined) throw new Error("the API key is not of the form ca_<key id>_<secret>");
  const fields = {
    keyId: parsed.keyId,
    timestamp: Math.floor(Date.now() / 1000),
    nonce: newNonce(),
    path: gatewayPath,
    bodySha256: await sha256Hex(new Uint8Array()),
  };
  const signature = await signFields(await deriveSigningKey(parsed.secret), fields);
  return create(ClientFrameSchema, {
    kind: {
      case: "auth",
      value: {
        apiKey,
        signature: {
          keyId: fields.keyId,
          timestamp: BigInt(fields.timestamp),
          nonce: fields.nonce,
          signature,
        },
      },
    },
  });
}

/**
 * createRealtimeClient connects to the gateway and keeps connecting: after a drop it waits
 * (with exponential backoff and jitter), reconnects and resubscribes every subscription.
 * Requests in flight when the connection drops are rejected; the tasks they submitted go on.
 */
export function createRealtimeClient(options: RealtimeClientOptions): RealtimeClient {
  const initialDelay = options.reconnect?.initialDelayMs ?? 250;
  const maxDelay = options.reconnect?.maxDelayMs ?? 10_000;
  const pending = new Map<string, Pending>();
  const subscriptions = new Map<string, LocalSubscription>();
  const byServerId = new Map<string, LocalSubscription>();
  let socket: WebSocketLike | undefined;
  let sessionId: string | undefined;
  let ready: Promise<void>;
  let markReady: () => void = () => {};
  let attempts = 0;
  let closed = false;
  let nextId = 0;

  function encode(frame: ClientFrame): string | Uint8Array {
    return options.binary
      ? toBinary(ClientFrameSchema, frame)
      : toJsonString(ClientFrameSchema, frame);
  }

  function decode(data: unknown): ServerFrame {
    return typeof data === "string"
      ? fromJsonString(ServerFrameSchema, data)
      : fromBinary(ServerFrameSchema, new Uint8Array(data as ArrayBuffer));
  }

  async function request(
    frame: MessageInitShape<typeof ClientFrameSchema>,
    onEvent?: Pending["onEvent"],
  ) {
    await ready;
    const requestId = frame.requestId || `r${++nextId}`;
    return new Promise<ServerFrame>((resolve, reject) => {
      pending.set(requestId, { resolve, reject, onEvent });
      socket?.send(encode(create(ClientFrameSchema, { ...frame, requestId })));
    });
  }

  function subscribeFrame(localId: string, subscription: LocalSubscription) {
    return request({
      requestId: `sub:${localId}`,
      kind: { case: "subscribe", value: { channel: subscription.channel } },
    });
  }

  function receive(frame: ServerFrame): void {
    const waiting = pending.get(frame.requestId);
    switch (frame.kind.case) {
      case "welcome": {
        sessionId = frame.kind.value.sessionId;
        if (frame.kind.value.authenticated || !options.apiKey) {
          sessionReady();
          return;
        }
        const sent = socket;
        authFrame(options.apiKey, options.sign === true).then(
          (auth) => sent?.send(encode(auth)),
          (error: unknown) => options.onError?.("internal", `could not sign the session: ${error}`),
        );
        return;
      }
      case "authenticated":
        sessionReady();
        return;
      case "ping":
        socket?.send(
          encode(
            create(ClientFrameSchema, {
              kind: { case: "pong", value: { nonce: frame.kind.value.nonce } },
            }),
          ),
        );
        return;
      case "event": {
        const event = frame.kind.value;
        if (waiting?.onEvent && event.payload.case === "taskEvent")
          waiting.onEvent(event.payload.value);
        if (event.subscriptionId) byServerId.get(event.subscriptionId)?.listener(event);
        return;
      }
      case "subscribed": {
        const local = subscriptions.get(frame.requestId.replace(/^sub:/, ""));
        if (local) {
          local.serverId = frame.kind.value.subscriptionId;
          local.established = true;
          byServerId.set(local.serverId, local);
        }
        break;
      }
      case "task":
        // Accepted; the result frame settles the request.
        return;
      case "error":
        if (waiting === undefined) {
          options.onError?.(frame.kind.value.code, frame.kind.value.message);
          return;
        }
        pending.delete(frame.requestId);
        waiting.reject(new RealtimeError(frame.kind.value.code, frame.kind.value.message));
        return;
    }
    if (waiting) {
      pending.delete(frame.requestId);
      waiting.resolve(frame);
    }
  }

  // The session is ready for requests: renew subscriptions made before a reconnect.
  function sessionReady(): void {
    attempts = 0;
    markReady();
    for (const [localId, subscription] of subscriptions) {
      if (subscription.established) subscribeFrame(localId, subscription).catch(() => {});
    }
  }

  function connect(): void {
    ready = new Promise((resolve) => {
      markReady = resolve;
    });
    const ws = new options.WebSocket(
      options.url,
      options.binary ? ["cloudagent.v1.proto"] : ["cloudagent.v1.json"],
    );
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => receive(decode(event.data));
    ws.onclose = () => {
      sessionId = undefined;
      byServerId.clear();
      for (const subscription of subscriptions.values()) subscription.serverId = undefined;
      for (const waiting of pending.values())
        waiting.reject(new RealtimeError("unavailable", "connection lost"));
      pending.clear();
      if (closed) return;
      const delay = Math.min(maxDelay, initialDelay * 2 ** attempts++) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
    ws.onerror = () => {};
    socket = ws;
  }

  connect();
  return {
    get sessionId() {
      return sessionId;
    },
    async submit(submit, submitOptions = {}) {
      const frame = await request(
        {
          kind: {
            case: "task",
            value: { submit, streamEvents: submitOptions.onEvent !== undefined },
          },
        },
        submitOptions.onEvent,
      );
      return frame.kind.value as TaskEvent;
    },
    async subscribe(channel, listener) {
      const localId = String(++nextId);
      const subscription: LocalSubscription = { channel, listener, established: false };
      subscriptions.set(localId, subscription);
      try {
        await subscribeFrame(localId, subscription);
      } catch (error) {
        subscriptions.delete(localId);
        throw error;
      }
      return {
        async unsubscribe() {
          subscriptions.delete(localId);
          if (subscription.serverId === undefined) return;
          byServerId.delete(subscription.serverId);
          await request({
            kind: { case: "unsubscribe", value: { subscriptionId: subscription.serverId } },
          });
        },
      };
    },
    async ping() {
      const started = performance.now();
      await request({ kind: { case: "ping", value: { nonce: BigInt(Date.now()) } } });
      return performance.now() - started;
    },
    close() {
      closed = true;
      socket?.close(1000, "client closed");
    },
  };
}
