import type { Readable } from "node:stream";
import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  endStreamFlag,
  endStreamToJson,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { NodeRequest, NodeResponse } from "../listener/node-types.js";

/** protocolOf names a request's protocol from its content type, for answers and audit rows. */
export function protocolOf(contentType: string): "grpc" | "grpc-web" | "connect" {
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

// A refused caller may send this much body after its answer before its stream is cut.
const maxDiscardedBytes = 4 * 1024 * 1024;

/**
 * discardBody lets the rest of a request body arrive and drops it, unparsed, once the answer
 * is out. The answer goes first, so a client that keeps its side open (a bidirectional stream
 * that waits for the server) has it at once. Reading on matters: Node resets a stream it was
 * answered on while its body was unread, and a client still sending then sees the reset
 * rather than the answer; an HTTP/1.1 connection could not be reused. A body past the cap
 * is cut off (its answer is out by then).
 */
export function discardBody(request: Readable): Promise<void> {
  if (request.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    let received = 0;
    request.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received > maxDiscardedBytes) request.destroy();
    });
    request.once("end", resolve);
    request.once("close", resolve);
    request.once("error", resolve);
    // A body that was paused part-way is let flow again.
    request.resume();
  });
}

/** RefusalAnswer is what a refusal is answered with, in the request's protocol. */
export interface RefusalAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
}

/**
 * refusalAnswer is the answer to a refused request, never parsing its body: a trailers-only
 * response for gRPC and gRPC-Web, an end-stream message for Connect streams, and a JSON
 * error with the matching HTTP status for Connect unary calls.
 */
export function refusalAnswer(
  contentType: string,
  error: ConnectError,
  extraHeaders: Record<string, string> = {},
): RefusalAnswer {
  const protocol = protocolOf(contentType);
  if (protocol !== "connect") {
    const headers: Record<string, string> = { ...extraHeaders, "content-type": contentType };
    setTrailerStatus(new Headers(), error).forEach((value, name) => {
      headers[name] = value;
    });
    return { status: 200, headers };
  }
  if (contentType.startsWith("application/connect+")) {
    const json = new TextEncoder().encode(
      JSON.stringify(endStreamToJson(new Headers(), error, undefined)),
    );
    return {
      status: 200,
      headers: { ...extraHeaders, "content-type": contentType },
      body: encodeEnvelope(endStreamFlag, json),
    };
  }
  return {
    status: codeToHttpStatus(error.code),
    headers: { ...extraHeaders, "content-type": "application/json" },
    body: errorToJsonBytes(error, undefined),
  };
}

/**
 * writeRefusal answers a refused request at once (see refusalAnswer), and then lets the rest of
 * its body in and drops it (see discardBody). Over HTTP/2 an answer without a body is
 * trailers-only: one HEADERS frame that ends the stream, as gRPC's C core requires (headers,
 * then an empty DATA frame to end the stream, is "Stream removed" there).
 */
export function writeRefusal(
  request: NodeRequest,
  response: NodeResponse,
  error: ConnectError,
  extraHeaders: Record<string, string> = {},
): Promise<void> {
  const answer = refusalAnswer(String(request.headers["content-type"] ?? ""), error, extraHeaders);
  if ("stream" in response && answer.body === undefined) {
    response.stream.respond({ ":status": answer.status, ...answer.headers }, { endStream: true });
  } else {
    response.writeHead(answer.status, answer.headers);
    if (answer.body) response.end(answer.body);
    else response.end();
  }
  return discardBody(request);
}
