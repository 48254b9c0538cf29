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
  /** headersFor is the CORS headers an answer to this origin needs; undefined for none. */
  headersFor(origin: string | undefined): Record<string, string> | undefined;
}

/** createCors allows the given origins ("*" for any); with none, it adds nothing. */
export function createCors(origins: readonly string[]): Cors {
  const allowed = (origin: string | undefined): origin is string =>
    origin !== undefined && (origins.includes("*") || origins.includes(origin));
  const headersFor = (origin: string | undefined) =>
    allowed(origin)
      ? {
          "access-control-allow-origin": origin,
          "access-control-expose-headers": exposedHeaders,
          vary: "origin",
        }
      : undefined;
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
      for (const [name, value] of Object.entries(headersFor(request.headers.origin) ?? {})) {
        response.setHeader(name, value);
      }
    },
    headersFor,
  };
}
