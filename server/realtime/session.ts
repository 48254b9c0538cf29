import { randomUUID } from "node:crypto";
import { create, type MessageInitShape, type Registry } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { WebSocket } from "ws";
import {
  type AuthFrame,
  type ClientFrame,
  ServerFrameSchema,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";
import type { Engine } from "../engine/engine.js";
import type { Pacer } from "../listener/pacer.js";
import type { Refusal } from "../security/door.js";
import type { Caller } from "../security/scopes.js";
import type { ChannelHub } from "./channel-hub.js";
import { decodeClientFrame, encodeFrame, type FrameFormat, requestIdOf } from "./frame-codec.js";
import type { FrameDoor, RequestFrameKind } from "./frame-door.js";
import { SessionRequests } from "./session-requests.js";

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
  /** The session's key was revoked, or expired. */
  revoked: 4403,
  /** The session's key holds as many sessions as it may, or its auth was rate limited. */
  overLimit: 4429,
} as const;

// How long a closing peer has to read what is left and answer the close frame.
const closeGraceMs = 5_000;
// Frames a client may send while its auth frame is checked; they are taken in order after.
const maxFramesWhileAuthenticating = 64;
// Frames wait their turn with the pacer; past this many waiting, the session's socket is not
// read until they are taken.
const maxWaitingFrames = 256;

/** SessionInfo describes a session for operators. */
export interface SessionInfo {
  readonly id: string;
  readonly peer: string;
  readonly connectedAt: Date;
  readonly subscriptions: number;
}

/**
 * SessionStart is how a session begins: let in with the key of its upgrade (its caller, and
 * the release of its hold on its key's sessions), or waiting for an auth frame for so long.
 */
export type SessionStart =
  | { readonly caller: Caller | undefined; readonly release: () => void }
  | { readonly authTimeoutMs: number };

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
  /** The door as this session meets it: its auth frame and each request frame pass it. */
  readonly door: FrameDoor;
  /** Shares the event loop's turns among connections: each frame waits its turn. */
  readonly pacer: Pacer;
  readonly start: SessionStart;
}

/** Where a session's authentication stands. */
type Auth =
  | { readonly state: "open"; readonly caller: Caller | undefined }
  | { readonly state: "waiting" }
  /** An auth frame is being checked: frames that come meanwhile wait their turn. */
  | { readonly state: "checking"; readonly waiting: [Buffer, boolean][] };

/**
 * Session serves one WebSocket: it lets each client frame in through the door as the call it
 * stands for, answers it, forwards subscribed channels, and guards the server against
 * clients that vanish, idle, cannot keep up, or whose key is revoked.
 */
export class Session {
  readonly id = randomUUID();
  readonly connectedAt = new Date();
  private readonly closed = new AbortController();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly idle: NodeJS.Timeout;
  private alive = true;
  private auth: Auth;
  private authTimer: NodeJS.Timeout | undefined;
  private release: () => void = () => {};
  private readonly requests: SessionRequests;
  /** Frames received and not yet taken. */
  private waiting = 0;

  constructor(private readonly options: SessionOptions) {
    const { socket, limits, start } = options;
    this.requests = new SessionRequests({
      ...options,
      send: (frame) => this.send(frame),
      write: (data) => this.write(data),
      closed: this.closed.signal,
    });
    socket.on("message", (data: Buffer, isBinary) => this.enqueue(data, isBinary));
    socket.on("pong", () => {
      this.alive = true;
    });
    socket.once("close", () => this.dispose());
    socket.on("error", () => socket.terminate());
    this.heartbeat = setInterval(() => this.beat(), limits.heartbeatMs);
    this.idle = setTimeout(() => this.close(closeCodes.idle, "idle timeout"), limits.idleTimeoutMs);
    if ("caller" in start) {
      this.auth = { state: "open", caller: start.caller };
      this.release = start.release;
    } else {
      this.auth = { state: "waiting" };
      this.authTimer = setTimeout(
        () => this.close(closeCodes.unauthenticated, "authentication required"),
        start.authTimeoutMs,
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
          authenticated: this.auth.state === "open",
          authTimeoutMs: "authTimeoutMs" in start ? start.authTimeoutMs : 0,
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
      subscriptions: this.requests.subscriptionCount,
    };
  }

  /** close ends the session with a code and a reason. */
  close(code: number, reason: string): void {
    this.options.socket.close(code, reason);
    // A peer that never completes the close handshake is cut off.
    setTimeout(() => this.options.socket.terminate(), closeGraceMs).unref();
  }

  /** end says why in an error frame, then closes the session: its key's end, or a refusal. */
  end(error: ConnectError, code: number = closeCodes.revoked): void {
    if (this.closed.signal.aborted) return;
    this.sendError("", error);
    this.close(code, error.rawMessage.slice(0, 120));
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
    this.requests.dispose();
    this.release();
  }

  private write(data: string | Uint8Array): number {
    const { socket, limits } = this.options;
    if (socket.readyState !== socket.OPEN) return 0;
    if (socket.bufferedAmount > limits.maxBufferedBytes) {
      this.dropSlowConsumer();
      return 0;
    }
    socket.send(data);
    return typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
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

  private send(frame: MessageInitShape<typeof ServerFrameSchema>): number {
    return this.write(
      encodeFrame(create(ServerFrameSchema, frame), this.options.format, this.options.types),
    );
  }

  private sendError(requestId: string, error: unknown, retryAfter?: string): number {
    const connectError = ConnectError.from(error, Code.InvalidArgument);
    return this.send({
      requestId,
      kind: {
        case: "error",
        value: {
          code: codeToString(connectError.code),
          message: connectError.rawMessage,
          retryAfterMs: retryAfter === undefined ? 0 : Number(retryAfter) * 1000,
        },
      },
    });
  }

  /**
   * enqueue has a frame taken in its turn (see Pacer): a flood of frames on one session waits
   * its turns instead of holding up everyone else.
   */
  private enqueue(data: Buffer, isBinary: boolean): void {
    const { socket, pacer } = this.options;
    if (++this.waiting > maxWaitingFrames) socket.pause();
    pacer.run(this, () => {
      if (--this.waiting <= maxWaitingFrames / 2 && socket.isPaused) socket.resume();
      if (!this.closed.signal.aborted) this.receive(data, isBinary);
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.idle.refresh();
    if (this.auth.state === "checking") {
      if (this.auth.waiting.length < maxFramesWhileAuthenticating) {
        this.auth.waiting.push([data, isBinary]);
        return;
      }
      const message = `at most ${maxFramesWhileAuthenticating} frames may wait for the auth frame's check`;
      this.sendError(
        requestIdOf(data, isBinary),
        new ConnectError(message, Code.ResourceExhausted),
      );
      return;
    }
    if (data.byteLength > this.options.limits.maxFrameBytes) {
      const message = `frame of ${data.byteLength} bytes exceeds the ${this.options.limits.maxFrameBytes}-byte limit`;
      this.sendError(
        requestIdOf(data, isBinary),
        new ConnectError(message, Code.ResourceExhausted),
      );
      return;
    }
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(data, isBinary, this.options.types);
    } catch (error) {
      const message = `malformed frame: ${ConnectError.from(error).rawMessage}`;
      this.sendError(requestIdOf(data, isBinary), new ConnectError(message, Code.InvalidArgument));
      return;
    }
    const { requestId, kind } = frame;
    if (kind.case === "auth") {
      this.authenticate(requestId, kind.value);
      return;
    }
    if (this.auth.state !== "open") {
      const message = "authenticate first: send an auth frame with an API key";
      this.sendError(requestId, new ConnectError(message, Code.Unauthenticated));
      return;
    }
    // A client's answers to the server's pings (the server pings at the WebSocket level).
    if (kind.case === "pong") return;
    if (kind.case === undefined) {
      const message = "unknown frame kind: set one of ping, pong, task, subscribe, unsubscribe";
      this.sendError(requestId, new ConnectError(message, Code.InvalidArgument));
      return;
    }
    this.admit(frame, kind.case, data.byteLength);
  }

  /** admit lets a request frame in as the call it stands for, then has it answered. */
  private admit(frame: ClientFrame, kind: RequestFrameKind, bytesIn: number): void {
    this.options.door.admit(kind, bytesIn).then(
      (call) => this.requests.answer(frame, call),
      (refusal: Refusal) => {
        this.sendError(frame.requestId, refusal.error, refusal.headers["retry-after"]);
        // A key revoked or expired since the session began ends it.
        if (refusal.error.code === Code.Unauthenticated) this.end(refusal.error);
      },
    );
  }

  private authenticate(requestId: string, frame: AuthFrame): void {
    if (this.auth.state !== "waiting") {
      const message = "the session is already authenticated";
      this.sendError(requestId, new ConnectError(message, Code.FailedPrecondition));
      return;
    }
    const checking: Auth = { state: "checking", waiting: [] };
    this.auth = checking;
    this.options.door
      .admitSession((reason) => this.end(reason), frame)
      .then(
        ({ admission, release }) => {
          clearTimeout(this.authTimer);
          this.auth = { state: "open", caller: admission.caller };
          this.release = release;
          // Closed meanwhile: the hold goes at once.
          if (this.closed.signal.aborted) release();
          this.send({
            requestId,
            kind: { case: "authenticated", value: { keyId: admission.caller?.keyId ?? "" } },
          });
          for (const [data, isBinary] of checking.waiting) this.receive(data, isBinary);
        },
        (refusal: Refusal) => {
          this.sendError(requestId, refusal.error, refusal.headers["retry-after"]);
          const overLimit = refusal.error.code === Code.ResourceExhausted;
          this.close(
            overLimit ? closeCodes.overLimit : closeCodes.unauthenticated,
            overLimit ? "over the key's limit" : "authentication failed",
          );
        },
      );
  }
}
