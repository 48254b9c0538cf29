import { once } from "node:events";
import type { ServerHttp2Stream } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { noteTask } from "../audit/audit-interceptor.js";
import { kAudit } from "../security/context.js";
import { discardBody } from "../security/refusal-response.js";
import { inputOf, readBody } from "./fast-call.js";
import type { FastExchange } from "./fast-exchange.js";
import {
  type FastCallOptions,
  type FastCallOutcome,
  grpcFrame,
  grpcHeaders,
  grpcTrailers,
  internalError,
  normalize,
  startCall,
} from "./unary-fast-path.js";

/** A batch of frames this large is written at once, without waiting for the turn to end. */
const maxBatchBytes = 64 * 1024;

/**
 * serveServerStream serves a server-streaming call over gRPC on its HTTP/2 stream, answering
 * as connect's gRPC handler does: the headers with the first message (or the end), each
 * message as it comes, the status in trailers. Messages made in the same turn of the event
 * loop are written together (up to 64 KiB), so a fast stream of small messages costs few
 * writes.
 */
export async function serveServerStream(
  stream: ServerHttp2Stream,
  exchange: FastExchange,
  options: FastCallOptions,
): Promise<FastCallOutcome> {
  const { route, limits } = options;
  const draft = options.contextValues.get(kAudit);
  const { context, compression } = startCall(exchange, options);
  const body = options.body ?? (await readBody(exchange.body, limits.readMaxBytes + 5));
  const serializer = route.serialization.getO(true);
  let bytesOut = 0;
  let error: ConnectError | undefined;
  // Frames made in one turn of the event loop go out together, in one buffer and one write.
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let flushing: Promise<void> | undefined;
  // The headers go with the first message, or the end.
  const respond = () => {
    if (!stream.headersSent) {
      const answerHeaders = grpcHeaders(context, compression);
      if (options.answerHeaders) Object.assign(answerHeaders, options.answerHeaders);
      stream.respond(answerHeaders, { waitForTrailers: true });
    }
  };
  const flush = async () => {
    if (batch.length === 0) return;
    respond();
    const frames = Buffer.concat(batch, batchBytes);
    bytesOut += batchBytes;
    batch = [];
    batchBytes = 0;
    if (!stream.destroyed && !stream.write(frames)) {
      await Promise.race([once(stream, "drain"), once(stream, "close")]);
    }
  };
  try {
    const input = await inputOf(route, "grpc", body, exchange, limits);
    noteTask(draft, input);
    const messages = route.impl(input, context) as AsyncIterable<unknown>;
    for await (const output of messages) {
      if (stream.destroyed) break;
      const message = normalize(route, output);
      noteTask(draft, message);
      const framed = grpcFrame(serializer.serialize(message), compression, limits);
      const frame = framed instanceof Promise ? await framed : framed;
      batch.push(frame);
      batchBytes += frame.byteLength;
      if (batchBytes >= maxBatchBytes) {
        await flushing;
        flushing = undefined;
        await flush();
      } else {
        flushing ??= new Promise((resolve) => setImmediate(resolve)).then(flush);
      }
    }
  } catch (reason) {
    error = internalError(reason);
  }
  await flushing;
  await flush();
  if (stream.destroyed) return { code: "canceled", bytesIn: body.size, bytesOut };
  respond();
  const trailers = grpcTrailers(context, error);
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end();
  // An error may come before the body was read to its end: the rest is let in and dropped.
  if (!body.complete) await discardBody(stream);
  return { code: error ? codeToString(error.code) : "ok", bytesIn: body.size, bytesOut };
}
