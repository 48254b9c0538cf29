import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { RealtimeStats } from "../../gen/noizylab/agent/v1/channel_pb.js";
import type { Engine } from "../engine/engine.js";
import type { ChannelHub } from "./channel-hub.js";
import { binarySubprotocol, jsonSubprotocol } from "./frame-codec.js";
import { closeCodes, Session, type SessionInfo, type SessionLimits } from "./session.js";

/** The path the gateway answers WebSocket upgrades on. */
export const gatewayPath = "/ws";

/** GatewayOptions configure the WebSocket gateway. */
export interface GatewayOptions {
  readonly engine: Engine;
  readonly hub: ChannelHub;
  readonly limits: SessionLimits;
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

  return {
    handleUpgrade(request, socket, head) {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      if (path !== gatewayPath) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      server.handleUpgrade(request, socket, head, (ws) => {
        const session = new Session({
          socket: ws,
          format: ws.protocol === binarySubprotocol ? "binary" : "json",
          peer: request.socket.remoteAddress ?? "",
          engine: options.engine,
          hub: options.hub,
          limits: options.limits,
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
