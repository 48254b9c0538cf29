import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { WebSocketServer } from "ws";
import type { RealtimeStats } from "../../gen/noizylab/agent/v1/channel_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import { finishAudit, noteRefusal, startAudit } from "../audit/request-audit.js";
import type { Engine } from "../engine/engine.js";
import type { Pacer } from "../listener/pacer.js";
import { keyFromHeaders } from "../security/api-keys.js";
import { asRefusal, type Door, type Refusal } from "../security/door.js";
import type { ChannelHub } from "./channel-hub.js";
import { binarySubprotocol, jsonSubprotocol } from "./frame-codec.js";
import { FrameDoor, gatewayPath } from "./frame-door.js";
import {
  closeCodes,
  Session,
  type SessionInfo,
  type SessionLimits,
  type SessionStart,
} from "./session.js";

export { gatewayPath } from "./frame-door.js";

/** GatewayOptions configure the WebSocket gateway. */
export interface GatewayOptions {
  readonly engine: Engine;
  readonly hub: ChannelHub;
  readonly limits: SessionLimits;
  /** Lets sessions in at the upgrade or their auth frame, and each of their frames after. */
  readonly door: Door;
  readonly audit: AuditLog;
  /** How long a session opened without a key has to send its auth frame. */
  readonly authTimeoutMs: number;
  /** The plugins' message types, for Any payloads in JSON frames. */
  readonly types: Registry;
  /** Shares the event loop's turns among connections: each frame waits its turn. */
  readonly pacer: Pacer;
}

/**
 * refuseUpgrade answers a refused WebSocket upgrade with the HTTP status of its code (401,
 * 403, 429 with retry-after, 503…), its reason, and its extra headers.
 */
function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const { error, headers } = refusal;
  const status = codeToHttpStatus(error.code);
  const body = `${error.rawMessage}\n`;
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\ncontent-type: text/plain\r\n${extra.join("")}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Upgrade is an upgrade let in: how its session starts, from where, and its key's hold. */
interface Upgrade {
  readonly start: SessionStart;
  readonly peer: string;
  /** release gives back the hold on the key's sessions, should no session start. */
  release(): void;
  /** bind tells the upgrade its session, once it has started. */
  bind(session: Session): void;
}

/** Gateway accepts WebSocket sessions at /ws on the server's one port. */
export interface Gateway {
  /** handleUpgrade takes an HTTP/1.1 upgrade request; any other path is answered 404. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** sessions describes the open sessions. */
  sessions(): SessionInfo[];
  /** stats counts sessions, now and since start, and the hub's subscriptions. */
  stats(): Omit<RealtimeStats, "$typeName">;
  /** close ends every session with 1001 (going away). */
  close(): void;
}

/** createGateway makes the WebSocket gateway. */
export function createGateway(options: GatewayOptions): Gateway {
  const server = new WebSocketServer({
    noServer: true,
    // Frames a little over the limit get an error frame and the session lives on; far larger
    // ones are cut off by ws (close 1009) before they are buffered whole.
    maxPayload: options.limits.maxFrameBytes * 4,
    perMessageDeflate: false,
    handleProtocols: (protocols) =>
      protocols.has(binarySubprotocol)
        ? binarySubprotocol
        : protocols.has(jsonSubprotocol)
          ? jsonSubprotocol
          : false,
  });
  const open = new Set<Session>();
  let total = 0;

  /**
   * admitUpgrade lets an upgrade in: with a key, as a session of its key at once (key,
   * signature where due, the key's cap on sessions, which `release` gives back); without one
   * (browsers cannot send headers with a WebSocket), by the network rules now, and the
   * session's first frame brings the key. It rejects with the Refusal.
   */
  async function admitUpgrade(request: IncomingMessage, door: FrameDoor): Promise<Upgrade> {
    const { headers } = request;
    const socketAddress = request.socket.remoteAddress ?? "";
    if (keyFromHeaders(headers) === undefined) {
      const peer = options.door.screen({ headers, socketAddress });
      return {
        start: { authTimeoutMs: options.authTimeoutMs },
        peer: peer.ip,
        release() {},
        bind() {},
      };
    }
    // The key may go before the session exists: the session then ends as soon as it does.
    let session: Session | undefined;
    let endedWith: ConnectError | undefined;
    const { admission, release } = await door.admitSession((reason) => {
      endedWith = reason;
      session?.end(reason);
    });
    return {
      start: { caller: admission.caller, release },
      peer: admission.peer.ip,
      release,
      bind(bound) {
        session = bound;
        if (endedWith) bound.end(endedWith);
      },
    };
  }

  return {
    async handleUpgrade(request, socket, head) {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      if (path !== gatewayPath) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      const door = new FrameDoor({
        door: options.door,
        audit: options.audit,
        headers: request.headers,
        socketAddress: request.socket.remoteAddress ?? "",
      });
      let upgrade: Upgrade;
      try {
        upgrade = await admitUpgrade(request, door);
      } catch (error) {
        const refusal = asRefusal(error);
        // Refusals of the network rules alone are audited here; the door audits the others.
        if (keyFromHeaders(request.headers) === undefined) {
          const call = startAudit(
            gatewayPath,
            request.socket.remoteAddress ?? "",
            request.headers["user-agent"],
            "websocket",
          );
          noteRefusal(call.draft, refusal);
          finishAudit(options.audit, call);
        }
        refuseUpgrade(socket, refusal);
        return;
      }
      // An upgrade ws refuses (not a WebSocket handshake) never becomes a session.
      let opened = false;
      socket.once("close", () => opened || upgrade.release());
      server.handleUpgrade(request, socket, head, (ws) => {
        opened = true;
        const session = new Session({
          socket: ws,
          format: ws.protocol === binarySubprotocol ? "binary" : "json",
          types: options.types,
          peer: upgrade.peer,
          engine: options.engine,
          hub: options.hub,
          limits: options.limits,
          door,
          pacer: options.pacer,
          start: upgrade.start,
        });
        open.add(session);
        total++;
        ws.once("close", () => open.delete(session));
        upgrade.bind(session);
      });
    },
    sessions: () => [...open].map((session) => session.info()),
    stats: () => ({
      activeSessions: open.size,
      totalSessions: BigInt(total),
      subscriptions: options.hub.subscriptionCount,
    }),
    close() {
      for (const session of open) session.close(closeCodes.shutdown, "server shutting down");
    },
  };
}
