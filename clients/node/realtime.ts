import WebSocket from "ws";
import {
  createRealtimeClient,
  type RealtimeClient,
  type RealtimeClientOptions,
  type WebSocketConstructor,
} from "../shared/realtime-client.js";

/** connectRealtime opens the gateway from Node, with the ws package (Node 20 has no WebSocket). */
export function connectRealtime(options: Omit<RealtimeClientOptions, "WebSocket">): RealtimeClient {
  return createRealtimeClient({
    ...options,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
}
