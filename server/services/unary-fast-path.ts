import type { IncomingHttpHeaders } from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
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
  compressedFlag,
  compressionNegotiate,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import {
  contentTypeProto as grpcWebContentType,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import { noteTask } from "../audit/audit-interceptor.js";
import type { MaybePromise } from "../lib/maybe-promise.js";
import { kAudit } from "../security/context.js";
import { discardBody } from "../security/refusal-response.js";
import { connectAnswer } from "./connect-answer.js";
import {
  type Body,
  binary,
  enveloped,
  FastContext,
  inputOf,
  readBody,
  toNode,
} from "./fast-call.js";
import type { FastExchange } from "./fast-exchange.js";

/** FastRoute is a unary or server-streaming method as a service registered it. */
export interface FastRoute {
  readonly method: DescMethodUnary | DescMethodServerStreaming;
  readonly impl: (request: Message, context: HandlerContext) => unknown;
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/** FastPathLimits are the router's message size limits, compression and JSON settings. */
export interface FastPathLimits {
  readonly jsonOptions: Parameters<typeof createMethodSerializationLookup>[2];
  readonly readMaxBytes: number;
  readonly writeMaxBytes: number;
  readonly acceptCompression: readonly Compression[];
  /** Responses this large or larger are compressed when the caller accepts it. */
  readonly compressMinBytes: number;
}

/**
 * recordFastRoutes wraps a router so the unary and server-streaming methods registered on it
 * are also noted, with their implementations, for the fast path. Services registered with
 * options of their own (interceptors, limits) are left to the router alone.
 */
export function recordFastRoutes(
  router: ConnectRouter,
  limits: FastPathLimits,
): { router: ConnectRouter; routes: Map<string, FastRoute> } {
  const routes = new Map<string, FastRoute>();
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      router.service(service, impl, options);
      if (options !== undefined) return recording;
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName];
        const kind = method.methodKind;
        if ((kind !== "unary" && kind !== "server_streaming") || typeof fn !== "function") continue;
        routes.set(`/${service.typeName}/${method.name}`, {
          method: method as FastRoute["method"],
          impl: fn.bind(impl) as FastRoute["impl"],
          serialization: createMethodSerializationLookup(
            method,
            undefined,
            limits.jsonOptions,
            limits,
          ),
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

/** FastProtocol is a wire protocol the fast path speaks: gRPC, gRPC-Web, Connect binary or JSON. */
export type FastProtocol = "grpc" | "grpc-web" | "connect" | "connect-json";

/**
 * fastProtocolOf says whether a call can take the fast path, and in which protocol: a POST
 * of one message (binary, or Connect JSON), not compressed, without a deadline (which takes
 * the general path: its handling is rarer, and longer).
 */
export function fastProtocolOf(headers: IncomingHttpHeaders): FastProtocol | undefined {
  if (headers[":method"] !== "POST") return undefined;
  if (
    headers["grpc-encoding"] !== undefined ||
    headers["content-encoding"] !== undefined ||
    headers["grpc-timeout"] !== undefined ||
    headers["connect-timeout-ms"] !== undefined
  ) {
    return undefined;
  }
  const contentType = headers["content-type"];
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") {
    return "grpc";
  }
  if (contentType === "application/grpc-web" || contentType === "application/grpc-web+proto") {
    return "grpc-web";
  }
  const version = headers["connect-protocol-version"];
  if (version !== undefined && version !== "1") return undefined;
  if (contentType === "application/proto") return "connect";
  if (contentType === "application/json") return "connect-json";
  return undefined;
}

/** FastCallOptions are one fast call's route and settings. */
export interface FastCallOptions {
  readonly route: FastRoute;
  readonly protocol: FastProtocol;
  readonly limits: FastPathLimits;
  readonly contextValues: ContextValues;
  readonly shutdownSignal: AbortSignal | undefined;
  /** Headers every answer to the call carries (a browser's CORS headers); undefined for none. */
  readonly answerHeaders: Record<string, string> | undefined;
  /** The body, when the door read it already (to check its signature); else read by the call. */
  readonly body?: Body | undefined;
}

/** FastCallOutcome is how a call ended and the body bytes it moved. */
export interface FastCallOutcome {
  readonly code: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** startCall makes a call's handler context, and picks its response compression. */
export function startCall(
  exchange: FastExchange,
  options: FastCallOptions,
): { context: FastContext; compression: Compression | null } {
  const { route, protocol, limits } = options;
  const { headers } = exchange;
  const context = new FastContext(
    route.method,
    protocol === "connect-json" ? "connect" : protocol,
    `http://${headers[":authority"] ?? "localhost"}${headers[":path"]}`,
    options.contextValues,
    exchange,
    options.shutdownSignal,
  );
  const acceptHeader = enveloped(protocol) ? "grpc-accept-encoding" : "accept-encoding";
  const accepted = headers[acceptHeader];
  const compression = compressionNegotiate(
    [...limits.acceptCompression],
    null,
    typeof accepted === "string" ? accepted : null,
    acceptHeader,
  ).response;
  return { context, compression };
}

/** normalize makes a handler's output a message of the method's output type. */
export function normalize(route: FastRoute, output: unknown): Message {
  return isMessage(output, route.method.output)
    ? output
    : create(route.method.output, output as never);
}

/** internalError is a thrown value as connect answers it: a ConnectError, or "internal error". */
export function internalError(reason: unknown): ConnectError {
  return reason instanceof ConnectError
    ? reason
    : new ConnectError("internal error", Code.Internal, undefined, undefined, reason);
}

/**
 * serveUnary serves one unary call, answering exactly as connect's gRPC, gRPC-Web and Connect
 * handlers do (headers, trailers, error bodies, compression).
 */
export async function serveUnary(
  exchange: FastExchange,
  options: FastCallOptions,
): Promise<FastCallOutcome> {
  const { route, protocol, limits } = options;
  const { context, compression } = startCall(exchange, options);
  const body = options.body ?? (await readBody(exchange.body, limits.readMaxBytes + 5));
  let output: Uint8Array | undefined;
  let error: ConnectError | undefined;
  // The task the request and the response name goes in the audit draft, as on the general
  // path (the audit interceptor). Values that are there already are not awaited (see
  // MaybePromise): most calls wait only for their body.
  const draft = options.contextValues.get(kAudit);
  try {
    const parsed = inputOf(route, protocol, body, exchange, limits);
    const input = parsed instanceof Promise ? await parsed : parsed;
    noteTask(draft, input);
    const handled = route.impl(input, context);
    const message = normalize(route, handled instanceof Promise ? await handled : handled);
    noteTask(draft, message);
    output = route.serialization.getO(binary(protocol)).serialize(message);
  } catch (reason) {
    error = internalError(reason);
  }
  const answering =
    protocol === "grpc"
      ? grpcAnswer(context, compression, limits, output, error)
      : protocol === "grpc-web"
        ? grpcWebAnswer(context, compression, limits, output, error)
        : connectAnswer(context, compression, limits, binary(protocol), output, error);
  const answer = answering instanceof Promise ? await answering : answering;
  if (options.answerHeaders) Object.assign(answer.headers, options.answerHeaders);
  exchange.answer(answer.headers, answer.body, answer.trailers);
  // An error may come before the body was read to its end: the rest is let in and dropped.
  if (!body.complete) await discardBody(exchange.body);
  return {
    code: error ? codeToString(error.code) : "ok",
    bytesIn: body.size,
    bytesOut: answer.body?.byteLength ?? 0,
  };
}

/** Answer is what a fast call sends back: headers, then its body and trailers if any. */
export interface Answer {
  readonly headers: Record<string, string | number>;
  readonly body: Uint8Array | undefined;
  readonly trailers?: Record<string, string>;
}

/** grpcHeaders are a gRPC or gRPC-Web answer's headers: its type, compression, and the handler's. */
export function grpcHeaders(
  context: FastContext,
  compression: Compression | null,
  contentType = "application/grpc+proto",
): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    ":status": 200,
    "content-type": contentType,
  };
  if (compression) headers["grpc-encoding"] = compression.name;
  toNode(context.headersSet(), headers as Record<string, string>);
  return headers;
}

/**
 * grpcTrailer is a gRPC or gRPC-Web answer's trailer: its status, and the handler's
 * trailers; undefined for the common one, a success with nothing added ("grpc-status: 0").
 */
function grpcTrailer(context: FastContext, error: ConnectError | undefined): Headers | undefined {
  const added = context.trailersSet();
  if (added === undefined && error === undefined) return undefined;
  const trailer = new Headers({ "grpc-status": "0" });
  added?.forEach((value, name) => {
    trailer.append(name, value);
  });
  if (error) setTrailerStatus(trailer, error);
  return trailer;
}

/** grpcTrailers are a gRPC answer's trailers (see grpcTrailer), as node:http2 takes them. */
export function grpcTrailers(
  context: FastContext,
  error: ConnectError | undefined,
): Record<string, string> {
  const trailer = grpcTrailer(context, error);
  return trailer ? toNode(trailer) : { "grpc-status": "0" };
}

const okTrailer = trailerSerialize(new Headers({ "grpc-status": "0" }));

/**
 * envelope frames a message as connect's encodeEnvelope does, in a buffer from Node's pool
 * (encodeEnvelope allocates one of its own, which costs more than the copy).
 */
function envelope(flags: number, message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(message.byteLength + 5);
  frame[0] = flags;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * grpcFrame frames a message (or with `flags`, a gRPC-Web trailer), compressed when it is
 * large enough and the caller accepts it (only then does it wait for anything).
 */
export function grpcFrame(
  message: Uint8Array,
  compression: Compression | null,
  limits: FastPathLimits,
  flags = 0,
): Uint8Array | Promise<Uint8Array> {
  if (compression && message.byteLength >= limits.compressMinBytes) {
    return compression.compress(message).then((bytes) => envelope(flags | compressedFlag, bytes));
  }
  return envelope(flags, message);
}

function grpcAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): MaybePromise<Answer> {
  const headers = grpcHeaders(context, compression);
  const trailers = grpcTrailers(context, error);
  const framed = output && grpcFrame(output, compression, limits);
  return framed instanceof Promise
    ? framed.then((body) => ({ headers, body, trailers }))
    : { headers, body: framed, trailers };
}

/** grpcWebAnswer is a gRPC-Web answer: the message, then the trailer, both in the body. */
async function grpcWebAnswer(
  context: FastContext,
  compression: Compression | null,
  limits: FastPathLimits,
  output: Uint8Array | undefined,
  error: ConnectError | undefined,
): Promise<Answer> {
  const trailer = grpcTrailer(context, error);
  const last = await grpcFrame(
    trailer ? trailerSerialize(trailer) : okTrailer,
    compression,
    limits,
    trailerFlag,
  );
  return {
    headers: grpcHeaders(context, compression, grpcWebContentType),
    body: output ? Buffer.concat([await grpcFrame(output, compression, limits), last]) : last,
  };
}
