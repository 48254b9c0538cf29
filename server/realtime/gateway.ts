import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { WebSocketServer } from "ws";
import type { RealtimeStats } from "../../gen/noizylab/agent/v1/channel_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { Engine } from "../engine/engine.js";
import { keyFromHeaders } from "../security/api-keys.js";
import { asRefusal, type Door, type Refusal } from "../security/door.js";
import type { Peer } from "../security/network-rules.js";
import type { ChannelHub } from "./channel-hub.js";
import { binarySubprotocol, jsonSubprotocol } from "./frame-codec.js";
import {
  closeCodes,
  Session,
  type SessionAuth,
  type SessionInfo,
  type SessionLimits,
} from "./session.js";

/** The path the gateway answers WebSocket upgrades on. */
export const gatewayPath = "/ws";

/** GatewayOptions configure the WebSocket gateway. */
export interface GatewayOptions {
  readonly engine: Engine;
  readonly hub: ChannelHub;
  readonly limits: SessionLimits;
  /** Checks the key at the upgrade, or in the session's first frame. */
  readonly door: Door;
  readonly audit: AuditLog;
  /** How long a session opened without a key has to send its auth frame. */
  readonly authTimeoutMs: number;
  /** The plugins' message types, for Any payloads in JSON frames. */
  readonly types: Registry;
}

type Audit = (peer: Peer, keyId: string, error?: ConnectError) => void;

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
   * admitUpgrade checks an upgrade: with a key, the whole door at once; without one (browsers
   * cannot send headers with a WebSocket), the network rules now and the key in the session's
   * first frame. Allowed sessions are audited here, refusals by the caller.
   */
  async function admitUpgrade(request: IncomingMessage, socketAddress: string, audit: Audit) {
    const headers = request.headers;
    if (keyFromHeaders(headers) !== undefined) {
      const { caller, peer } = await options.door.admit({
        path: gatewayPath,
        headers,
        socketAddress,
      });
      audit(peer, caller?.keyId ?? "");
      return { peer, auth: { caller } };
    }
    const peer = options.door.screen({ headers, socketAddress });
    const authenticate = async (apiKey: string) => {
      try {
        const admission = await options.door.admit({
          path: gatewayPath,
          headers: { ...headers, authorization: `Bearer ${apiKey}` },
          socketAddress,
        });
        audit(admission.peer, admission.caller?.keyId ?? "");
        return admission.caller;
      } catch (error) {
        const refusal = asRefusal(error, peer);
        audit(refusal.peer, refusal.keyId, refusal.error);
        throw refusal.error;
      }
    };
    return { peer, auth: { timeoutMs: options.authTimeoutMs, authenticate } };
  }

  return {
    async handleUpgrade(request, socket, head) {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      if (path !== gatewayPath) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      const started = performance.now();
      const socketAddress = request.socket.remoteAddress ?? "";
      const audit = (peer: Peer, keyId: string, error?: ConnectError) =>
        options.audit.record({
          time: timestampNow(),
          procedure: gatewayPath,
          peerIp: peer.ip,
          country: peer.country,
          userAgent: String(request.headers["user-agent"] ?? ""),
          protocol: "websocket",
          keyId,
          code: error ? codeToString(error.code) : "ok",
          reason: error?.rawMessage ?? "",
          durationMs: Math.round(performance.now() - started),
        });
      let upgrade: { peer: Peer; auth: SessionAuth };
      try {
        upgrade = await admitUpgrade(request, socketAddress, audit);
      } catch (error) {
        const refusal = asRefusal(error);
        audit(refusal.peer, refusal.keyId, refusal.error);
        refuseUpgrade(socket, refusal);
        return;
      }
      server.handleUpgrade(request, socket, head, (ws) => {
        const session = new Session({
          socket: ws,
          format: ws.protocol === binarySubprotocol ? "binary" : "json",
          types: options.types,
          peer: upgrade.peer.ip,
          engine: options.engine,
          hub: options.hub,
          limits: options.limits,
          auth: upgrade.auth,
        });
        open.add(session);
        total++;
        ws.once("close", () => open.delete(session));
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
