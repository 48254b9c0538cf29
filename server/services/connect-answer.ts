import type { ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import type { MaybePromise } from "../lib/maybe-promise.js";
import { type FastContext, toNode } from "./fast-call.js";
import type { Answer, FastPathLimits } from "./unary-fast-path.js";

// A Connect unary answer, as connect's handler makes it: the message as the body, or an error
// as JSON with its HTTP status; the handler's trailers as prefixed headers.

/** connectAnswer is a Connect answer: at once for the common one (a message, nothing added). */
export function connectAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  binaryFormat: boolean,
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): MaybePromise<Answer> {
  const contentType = binaryFormat ? "application/proto" : "application/json";
  const compress = compression !== null && (output?.byteLength ?? 0) >= limits.compressMinBytes;
  if (output && !compress && !context.headersSet() && !context.trailersSet()) {
    return {
      headers: {
        ":status": 200,
        "content-type": contentType,
        "content-length": String(output.byteLength),
      },
      body: output,
    };
  }
  return fullConnectAnswer(context, compression, limits, contentType, output, error);
}

/** fullConnectAnswer is any other Connect answer: an error, compressed, or with added headers. */
async function fullConnectAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  contentType: string,
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): Promise<Answer> {
  const header = new Headers({ "content-type": contentType });
  context.headersSet()?.forEach((value, name) => {
    header.append(name, value);
  });
  let status = 200;
  let body = output ?? new Uint8Array();
  if (error) {
    status = codeToHttpStatus(error.code);
    header.set("content-type", "application/json");
    error.metadata.forEach((value, name) => {
      header.set(name, value);
    });
    body = errorToJsonBytes(error, limits.jsonOptions);
  }
  if (compression && body.byteLength >= limits.compressMinBytes) {
    body = await compression.compress(body);
    header.set("content-encoding", compression.name);
  }
  const all = trailerMux(header, context.trailersSet() ?? new Headers());
  all.set("content-length", body.byteLength.toString(10));
  return { headers: toNode(all, { ":status": String(status) }), body };
}
