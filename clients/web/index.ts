import {
  createRealtimeClient,
  type RealtimeClient,
  type RealtimeClientOptions,
  type WebSocketConstructor,
} from "../shared/realtime-client.js";

export {
  type RealtimeClient,
  RealtimeError,
  type Subscription,
} from "../shared/realtime-client.js";
export { createWebClient, type WebClient, type WebClientOptions } from "./client.js";

/** connectRealtime opens the gateway from a browser page, with the browser's WebSocket. */
export function connectRealtime(options: Omit<RealtimeClientOptions, "WebSocket">): RealtimeClient {
  return createRealtimeClient({
    ...options,
    WebSocket: globalThis.WebSocket as unknown as WebSocketConstructor,
  });
}
