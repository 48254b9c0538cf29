import type { NodeRequest, NodeResponse } from "../listener/node-types.js";

// What Connect, gRPC-Web and our door read from, and write to, a browser's request.
const exposedHeaders = [
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "retry-after",
  "content-encoding",
  "connect-content-encoding",
].join(", ");

/** Cors lets browser pages of allowed origins call the RPCs. */
export interface Cors {
  /** answerPreflight answers an OPTIONS preflight; true when it did. */
  answerPreflight(request: NodeRequest, response: NodeResponse): boolean;
  /** allow adds the CORS headers an allowed origin's response needs. */
  allow(request: NodeRequest, response: NodeResponse): void;
}

/** createCors allows the given origins ("*" for any); with none, it adds nothing. */
export function createCors(origins: readonly string[]): Cors {
  const allowed = (origin: string | undefined): origin is string =>
    origin !== undefined && (origins.includes("*") || origins.includes(origin));
  return {
    answerPreflight(request, response) {
      const origin = request.headers.origin;
      if (request.method !== "OPTIONS" || !allowed(origin)) return false;
      response.writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "POST, GET",
        "access-control-allow-headers": String(
          request.headers["access-control-request-headers"] ?? "",
        ),
        "access-control-max-age": "7200",
        vary: "origin",
      });
      response.end();
      return true;
    },
    allow(request, response) {
      const origin = request.headers.origin;
      if (!allowed(origin)) return;
      response.setHeader("access-control-allow-origin", origin);
      response.setHeader("access-control-expose-headers", exposedHeaders);
      response.setHeader("vary", "origin");
    },
  };
}
