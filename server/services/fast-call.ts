import type { Readable } from "node:stream";
import type { DescMethodServerStreaming, DescMethodUnary, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import {
  pipe,
  readAllBytes,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import { trailerFlag } from "@connectrpc/connect/protocol-grpc-web";
import type { MaybePromise } from "../lib/maybe-promise.js";
import type { FastExchange } from "./fast-exchange.js";
import type { FastPathLimits, FastProtocol, FastRoute } from "./unary-fast-path.js";

// What calls on the fast path share: their handler context, and reading their one request.

/** binary says whether a protocol carries binary Protobuf (else JSON). */
export const binary = (protocol: FastProtocol) => protocol !== "connect-json";

/** enveloped says whether a protocol frames its messages in envelopes (the gRPC ones). */
export const enveloped = (protocol: FastProtocol) => protocol === "grpc" || protocol === "grpc-web";

/**
 * FastContext is a fast call's handler context: its signal and headers are made only when a
 * handler uses them.
 */
export class FastContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly service;
  private header: Headers | undefined;
  private trailer: Headers | undefined;
  private request: Headers | undefined;
  private controller: AbortController | undefined;

  constructor(
    readonly method: DescMethodUnary | DescMethodServerStreaming,
    readonly protocolName: string,
    readonly url: string,
    readonly values: ContextValues,
    private readonly exchange: FastExchange,
    private readonly shutdownSignal: AbortSignal | undefined,
  ) {
    this.service = method.parent;
  }

  timeoutMs(): number | undefined {
    return undefined;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const abort = () =>
        controller.abort(new ConnectError("operation was aborted", Code.Canceled));
      this.shutdownSignal?.addEventListener("abort", abort, { once: true });
      // The caller left (or the answer is done: nothing waits on the signal then).
      this.exchange.onClose(() => {
        this.shutdownSignal?.removeEventListener("abort", abort);
        abort();
      });
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    if (this.request === undefined) {
      this.request = new Headers();
      for (const [name, value] of Object.entries(this.exchange.headers)) {
        if (name.startsWith(":") || value === undefined) continue;
        for (const item of Array.isArray(value) ? value : [value]) this.request.append(name, item);
      }
    }
    return this.request;
  }

  get responseHeader(): Headers {
    this.header ??= new Headers();
    return this.header;
  }

  get responseTrailer(): Headers {
    this.trailer ??= new Headers();
    return this.trailer;
  }

  headersSet(): Headers | undefined {
    return this.header;
  }

  trailersSet(): Headers | undefined {
    return this.trailer;
  }
}

/** Body is what was read of a request body: all of it, or the first part past a limit. */
export interface Body {
  readonly chunks: Buffer[];
  readonly size: number;
  readonly complete: boolean;
}

/** readBody reads a request body, stopping once it holds more than `limit` bytes. */
export function readBody(stream: Readable, limit: number): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  // A call without a body may have ended already (nothing was buffered, so nothing is lost).
  if (stream.readableEnded) return Promise.resolve({ chunks, size, complete: true });
  // (Listeners are written in place, unnamed: named closures cost a call each under tsx.)
  return new Promise((resolve) => {
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > limit) {
        stream.removeAllListeners("data");
        stream.pause();
        resolve({ chunks, size, complete: false });
      }
    });
    // Whichever comes first; a promise settles once. (`on`, not `once`: each comes at most once,
    // and once's wrapper costs an object and a bound function per listener.)
    stream.on("end", () => resolve({ chunks, size, complete: true }));
    stream.on("close", () => resolve({ chunks, size, complete: true }));
  });
}

async function* rest(body: Body, stream: Readable): AsyncIterable<Uint8Array> {
  yield* body.chunks;
  if (!body.complete) yield* stream as AsyncIterable<Uint8Array>;
}

/** wholeBody is a body's bytes in one buffer (its one chunk, when it came in one). */
export const wholeBody = (body: Body) =>
  body.chunks.length === 1 ? (body.chunks[0] as Buffer) : Buffer.concat(body.chunks, body.size);

/**
 * inputOf parses the call's one request message. A body that is one plain message is parsed
 * at once (a parse error is thrown); any other (too large, several or compressed envelopes)
 * goes through connect's own readers, so its error is the one connect gives (a rejection).
 */
export function inputOf(
  route: FastRoute,
  protocol: FastProtocol,
  body: Body,
  exchange: FastExchange,
  limits: FastPathLimits,
): MaybePromise<Message> {
  const parser = route.serialization.getI(binary(protocol));
  if (body.complete) {
    const bytes = wholeBody(body);
    if (!enveloped(protocol)) return parser.parse(bytes);
    if (bytes.length >= 5 && bytes[0] === 0 && bytes.readUInt32BE(1) === bytes.length - 5) {
      return parser.parse(bytes.subarray(5));
    }
  }
  return readInput(route, protocol, body, exchange, limits);
}

/** readInput reads and parses the request message of a body inputOf could not take at once. */
async function readInput(
  route: FastRoute,
  protocol: FastProtocol,
  body: Body,
  exchange: FastExchange,
  limits: FastPathLimits,
): Promise<Message> {
  const parser = route.serialization.getI(binary(protocol));
  if (!enveloped(protocol)) {
    const length = exchange.headers["content-length"] ?? null;
    return parser.parse(await readAllBytes(rest(body, exchange.body), limits.readMaxBytes, length));
  }
  const messages = pipe(
    rest(body, exchange.body),
    transformSplitEnvelope(limits.readMaxBytes),
    transformDecompressEnvelope(null, limits.readMaxBytes),
    // gRPC-Web skips trailer envelopes, as connect's handler does.
    protocol === "grpc-web"
      ? transformParseEnvelope(parser, trailerFlag)
      : transformParseEnvelope(parser),
  );
  const found: Message[] = [];
  for await (const message of messages) found.push(message);
  // As connect names the kinds in these messages.
  const method = route.method.methodKind === "unary" ? "unary" : "server-streaming";
  if (found.length === 0) {
    throw new ConnectError(
      `protocol error: missing input message for ${method} method`,
      Code.Unimplemented,
    );
  }
  if (found.length > 1) {
    throw new ConnectError(
      `protocol error: received extra input message for ${method} method`,
      Code.Unimplemented,
    );
  }
  return found[0] as Message;
}

/** toNode copies headers into a plain object, as node:http2 takes them. */
export const toNode = (headers: Headers | undefined, into: Record<string, string> = {}) => {
  headers?.forEach((value, name) => {
    into[name] = value;
  });
  return into;
};
