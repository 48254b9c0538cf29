import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  isMessage,
  type Message,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import {
  type Compression,
  compressionNegotiate,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
  pipe,
  readAllBytes,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  codeToString,
  errorToJsonBytes,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { discardBody } from "../security/refusal-response.js";
import { isSigned } from "../security/signature-verifier.js";

/** UnaryRoute is a unary method as a service registered it. */
export interface UnaryRoute {
  readonly method: DescMethodUnary;
  readonly impl: (request: Message, context: HandlerContext) => unknown;
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/** Limits are the router's message size limits and response compression settings. */
export interface FastPathLimits {
  readonly readMaxBytes: number;
  readonly writeMaxBytes: number;
  readonly acceptCompression: readonly Compression[];
  /** Responses this large or larger are compressed when the caller accepts it. */
  readonly compressMinBytes: number;
}

/**
 * recordUnaryRoutes wraps a router so the unary methods registered on it are also noted, with
 * their implementations, for the fast path. Services registered with options of their own
 * (interceptors, limits) are left to the router alone.
 */
export function recordUnaryRoutes(
  router: ConnectRouter,
  limits: FastPathLimits,
): { router: ConnectRouter; routes: Map<string, UnaryRoute> } {
  const routes = new Map<string, UnaryRoute>();
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      router.service(service, impl, options);
      if (options !== undefined) return recording;
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName];
        if (method.methodKind !== "unary" || typeof fn !== "function") continue;
        routes.set(`/${service.typeName}/${method.name}`, {
          method: method as DescMethodUnary,
          impl: fn.bind(impl) as UnaryRoute["impl"],
          serialization: createMethodSerializationLookup(method, undefined, undefined, limits),
        });
      }
      return recording;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, options);
      return recording;
    },
  };
  return { router: recording, routes };
}

/** Protocol is a wire protocol the fast path speaks: gRPC or Connect, binary, unary. */
export type FastProtocol = "grpc" | "connect";

/**
 * fastProtocolOf says whether a call can take the fast path, and in which protocol: a POST
 * of one binary message, not compressed, without a deadline, signature or browser origin
 * (which take the general path: their handling is rarer, and longer).
 */
export function fastProtocolOf(headers: IncomingHttpHeaders): FastProtocol | undefined {
  if (headers[":method"] !== "POST") return undefined;
  if (
    headers["grpc-encoding"] !== undefined ||
    headers["content-encoding"] !== undefined ||
    headers["grpc-timeout"] !== undefined ||
    headers["connect-timeout-ms"] !== undefined ||
    headers.origin !== undefined ||
    isSigned(headers)
  ) {
    return undefined;
  }
  const contentType = headers["content-type"];
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") {
    return "grpc";
  }
  const version = headers["connect-protocol-version"];
  if (contentType === "application/proto" && (version === undefined || version === "1")) {
    return "connect";
  }
  return undefined;
}

/**
 * FastContext is a fast call's handler context: its signal and headers are made only when a
 * handler uses them.
 */
class FastContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly service;
  private header: Headers | undefined;
  private trailer: Headers | undefined;
  private request: Headers | undefined;
  private controller: AbortController | undefined;

  constructor(
    readonly method: DescMethodUnary,
    readonly protocolName: string,
    readonly url: string,
    readonly values: ContextValues,
    private readonly headers: IncomingHttpHeaders,
    private readonly stream: ServerHttp2Stream,
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
      this.stream.once("aborted", abort);
      this.shutdownSignal?.addEventListener("abort", abort, { once: true });
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    if (this.request === undefined) {
      this.request = new Headers();
      for (const [name, value] of Object.entries(this.headers)) {
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
interface Body {
  readonly chunks: Buffer[];
  readonly size: number;
  readonly complete: boolean;
}

/** readBody reads a stream's body, stopping once it holds more than `limit` bytes. */
function readBody(stream: ServerHttp2Stream, limit: number): Promise<Body> {
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
    // Whichever comes first; a promise settles once.
    stream.once("end", () => resolve({ chunks, size, complete: true }));
    stream.once("close", () => resolve({ chunks, size, complete: true }));
  });
}

async function* rest(body: Body, stream: ServerHttp2Stream): AsyncIterable<Uint8Array> {
  yield* body.chunks;
  if (!body.complete) yield* stream as AsyncIterable<Uint8Array>;
}

const one = (body: Body) =>
  body.chunks.length === 1 ? (body.chunks[0] as Buffer) : Buffer.concat(body.chunks, body.size);

/**
 * inputOf parses the call's one request message. A body that is one plain message is parsed
 * at once; any other (too large, several or compressed envelopes) goes through connect's own
 * readers, so its error is the one connect gives.
 */
async function inputOf(
  route: UnaryRoute,
  protocol: FastProtocol,
  body: Body,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  limits: FastPathLimits,
): Promise<Message> {
  const parser = route.serialization.getI(true);
  if (body.complete) {
    const bytes = one(body);
    if (protocol === "connect") return parser.parse(bytes);
    if (bytes.length >= 5 && bytes[0] === 0 && bytes.readUInt32BE(1) === bytes.length - 5) {
      return parser.parse(bytes.subarray(5));
    }
  }
  if (protocol === "connect") {
    const length = headers["content-length"] ?? null;
    return parser.parse(await readAllBytes(rest(body, stream), limits.readMaxBytes, length));
  }
  const messages = pipe(
    rest(body, stream),
    transformSplitEnvelope(limits.readMaxBytes),
    transformDecompressEnvelope(null, limits.readMaxBytes),
    transformParseEnvelope(parser),
  );
  const found: Message[] = [];
  for await (const message of messages) found.push(message);
  const method = "unary";
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

/** FastCallOptions are one fast call's route and settings. */
export interface FastCallOptions {
  readonly route: UnaryRoute;
  readonly protocol: FastProtocol;
  readonly limits: FastPathLimits;
  readonly jsonOptions: Parameters<typeof errorToJsonBytes>[1];
  readonly contextValues: ContextValues;
  readonly shutdownSignal: AbortSignal | undefined;
  /** Called with the request message, then the response message, for the audit draft. */
  readonly note: (message: unknown) => void;
}

/** FastCallOutcome is how a call ended and the body bytes it moved. */
export interface FastCallOutcome {
  readonly code: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

const toNode = (headers: Headers | undefined, into: Record<string, string> = {}) => {
  headers?.forEach((value, name) => {
    into[name] = value;
  });
  return into;
};

/**
 * serveUnary serves one unary call on the HTTP/2 stream, answering exactly as connect's
 * gRPC and Connect handlers do (headers, trailers, error bodies, compression).
 */
export async function serveUnary(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options: FastCallOptions,
): Promise<FastCallOutcome> {
  const { route, protocol, limits } = options;
  const context = new FastContext(
    route.method,
    protocol,
    `http://${headers[":authority"] ?? "localhost"}${headers[":path"]}`,
    options.contextValues,
    headers,
    stream,
    options.shutdownSignal,
  );
  const acceptHeader = protocol === "grpc" ? "grpc-accept-encoding" : "accept-encoding";
  const accepted = headers[acceptHeader];
  const compression = compressionNegotiate(
    [...limits.acceptCompression],
    null,
    typeof accepted === "string" ? accepted : null,
    acceptHeader,
  ).response;
  const body = await readBody(stream, limits.readMaxBytes + 5);
  let output: Uint8Array | undefined;
  let error: ConnectError | undefined;
  try {
    const input = await inputOf(route, protocol, body, stream, headers, limits);
    options.note(input);
    const result = await route.impl(input, context);
    const message = isMessage(result, route.method.output)
      ? result
      : create(route.method.output, result as never);
    options.note(message);
    output = route.serialization.getO(true).serialize(message);
  } catch (reason) {
    error =
      reason instanceof ConnectError
        ? reason
        : new ConnectError("internal error", Code.Internal, undefined, undefined, reason);
  }
  const answer =
    protocol === "grpc"
      ? await grpcAnswer(context, compression, limits, output, error)
      : await connectAnswer(context, compression, limits, options.jsonOptions, output, error);
  // An error may come before the body was read to its end: the rest is let in and dropped.
  if (!body.complete) await discardBody(stream);
  if (answer.trailers) {
    const trailers = answer.trailers;
    stream.respond(answer.headers, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  } else {
    stream.respond(answer.headers);
  }
  stream.end(answer.body);
  return {
    code: error ? codeToString(error.code) : "ok",
    bytesIn: body.size,
    bytesOut: answer.body?.byteLength ?? 0,
  };
}

interface Answer {
  readonly headers: Record<string, string | number>;
  readonly body: Uint8Array | undefined;
  readonly trailers?: Record<string, string>;
}

async function grpcAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): Promise<Answer> {
  const headers: Record<string, string | number> = {
    ":status": 200,
    "content-type": "application/grpc+proto",
  };
  if (compression) headers["grpc-encoding"] = compression.name;
  toNode(context.headersSet(), headers as Record<string, string>);
  const added = context.trailersSet();
  let trailers: Record<string, string> = { "grpc-status": "0" };
  if (added !== undefined || error !== undefined) {
    const trailer = new Headers(trailers);
    added?.forEach((value, name) => {
      trailer.append(name, value);
    });
    if (error) setTrailerStatus(trailer, error);
    trailers = toNode(trailer);
  }
  let body: Uint8Array | undefined;
  if (output) {
    let flags = 0;
    let bytes = output;
    if (compression && bytes.byteLength >= limits.compressMinBytes) {
      bytes = await compression.compress(bytes);
      flags = 1;
    }
    const frame = Buffer.allocUnsafe(5 + bytes.byteLength);
    frame[0] = flags;
    frame.writeUInt32BE(bytes.byteLength, 1);
    frame.set(bytes, 5);
    body = frame;
  }
  return { headers, body, trailers };
}

async function connectAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  jsonOptions: FastCallOptions["jsonOptions"],
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): Promise<Answer> {
  const compress = compression !== null && (output?.byteLength ?? 0) >= limits.compressMinBytes;
  if (output && !compress && !context.headersSet() && !context.trailersSet()) {
    // The common answer: a message and nothing the handler added.
    return {
      headers: {
        ":status": 200,
        "content-type": "application/proto",
        "content-length": String(output.byteLength),
      },
      body: output,
    };
  }
  const header = new Headers({ "content-type": "application/proto" });
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
    body = errorToJsonBytes(error, jsonOptions);
  }
  if (compression && body.byteLength >= limits.compressMinBytes) {
    body = await compression.compress(body);
    header.set("content-encoding", compression.name);
  }
  const all = trailerMux(header, context.trailersSet() ?? new Headers());
  all.set("content-length", body.byteLength.toString(10));
  return { headers: toNode(all, { ":status": String(status) }), body };
}
