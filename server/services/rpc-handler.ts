import type { IncomingMessage, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { createAuditInterceptor } from "../audit/audit-interceptor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { NodeRequest, NodeResponse, RequestHandler } from "../listener/node-types.js";
import { type AuditDraft, kAudit, kCaller } from "../security/context.js";
import { type Admission, asRefusal, type Door } from "../security/door.js";
import type { Peer } from "../security/network-rules.js";
import {
  discardBody,
  protocolOf,
  refusalAnswer,
  writeRefusal,
} from "../security/refusal-response.js";
import {
  connectGetMessage,
  isSigned,
  readBody,
  verifySignature,
} from "../security/signature-verifier.js";
import type { KeyStore } from "../store/key-store.js";
import { createCors } from "./cors.js";
import { type FastExchange, Http1Exchange, Http2Exchange } from "./fast-exchange.js";
import { codeOfResponse, counted, replay } from "./response-bodies.js";
import { serveServerStream } from "./stream-fast-path.js";
import {
  type FastCallOptions,
  type FastCallOutcome,
  type FastProtocol,
  type FastRoute,
  fastProtocolOf,
  recordFastRoutes,
  serveUnary,
} from "./unary-fast-path.js";

/** RpcHandlerOptions wire the RPC handler to the services, the door and the audit trail. */
export interface RpcHandlerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly router: ConnectRouterOptions;
  readonly door: Door;
  readonly audit: AuditLog;
  /** Where request nonces are recorded, for signed requests. */
  readonly keys: KeyStore;
  /** The largest request message; a signed body is read whole, up to this and its framing. */
  readonly maxMessageBytes: number;
  /** Origins whose browser pages may call (CORS); "*" for any. */
  readonly corsOrigins: readonly string[];
  readonly onError: (error: unknown) => void;
}

// Room for the framing of a signed body (envelope headers) beyond its message.
const signedBodySlack = 64;

/** Meter counts the body bytes of one request and its response. */
interface Meter {
  in: number;
  out: number;
}

/** AuditedCall is a request's audit draft, its byte counts, and when it started. */
interface AuditedCall {
  readonly draft: AuditDraft;
  readonly meter: Meter;
  /** The wall-clock time it started, in milliseconds since the epoch. */
  readonly startedAt: number;
  /** The same, on the monotonic clock its duration is measured on. */
  readonly started: number;
}

/** noteCaller fills in the audit draft who called (their key id, if any) and from where. */
function noteCaller(draft: AuditDraft, keyId: string, peer: Peer): void {
  draft.keyId = keyId;
  draft.peerIp = peer.ip;
  draft.country = peer.country;
}

/** refuseFast answers a refused fast call, once its body has arrived. */
async function refuseFast(
  exchange: FastExchange,
  draft: AuditDraft,
  error: ConnectError,
  extraHeaders?: Record<string, string>,
): Promise<void> {
  draft.code = codeToString(error.code);
  draft.reason = error.rawMessage;
  await discardBody(exchange.body);
  const answer = refusalAnswer(String(exchange.headers["content-type"]), error, extraHeaders);
  exchange.answer({ ":status": answer.status, ...answer.headers }, answer.body);
}

/** FastServe serves a fast call that the door let in. */
type FastServe = (exchange: FastExchange, options: FastCallOptions) => Promise<FastCallOutcome>;

/**
 * RpcHandler serves requests through Node's compatibility API and connect's handlers, and
 * takes the common calls on a fast path of its own (see unary-fast-path.ts): unary calls in
 * gRPC, gRPC-Web and Connect (binary and JSON), and gRPC server streams, straight off their
 * HTTP/2 streams; over HTTP/1.1, unary calls in gRPC-Web and Connect off their requests. The
 * same answers, byte for byte, for a fraction of the work.
 */
export interface RpcHandler extends RequestHandler {
  /** stream serves a call on the fast path and returns true, or returns false to leave it. */
  stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean;
}

/**
 * createRpcHandler serves Connect, gRPC and gRPC-Web like connect-node's adapter, with the
 * door in front: network rules, key, scope and rate are checked from the headers alone, so a
 * refused caller's body is never parsed (only let through and dropped). A signed request's body
 * is read whole and verified before the handler sees it. Every request, allowed or refused,
 * leaves an audit event.
 */
export function createRpcHandler(options: RpcHandlerOptions): RpcHandler {
  const acceptCompression = options.router.acceptCompression ?? [
    compressionGzip,
    compressionBrotli,
  ];
  const router = createConnectRouter({
    acceptCompression,
    ...options.router,
    interceptors: [createAuditInterceptor(), ...(options.router.interceptors ?? [])],
  });
  const limits = {
    jsonOptions: options.router.jsonOptions,
    readMaxBytes: options.router.readMaxBytes ?? 0xffffffff,
    writeMaxBytes: options.router.writeMaxBytes ?? 0xffffffff,
    acceptCompression,
    compressMinBytes: options.router.compressMinBytes ?? 1024,
  };
  const fast = recordFastRoutes(router, limits);
  // Interceptors of the router's own would not run on the fast path: it is off with them.
  options.routes(options.router.interceptors?.length ? router : fast.router);
  const handlers = new Map<string, UniversalHandler>(
    router.handlers.map((h) => [h.requestPath, h]),
  );

  async function serve(
    request: NodeRequest,
    response: NodeResponse,
    draft: AuditDraft,
    meter: Meter,
  ): Promise<void> {
    const path = draft.procedure ?? "";
    let admission: Admission;
    try {
      admission = await options.door.admit({
        path,
        headers: request.headers,
        socketAddress: request.socket?.remoteAddress ?? "",
      });
    } catch (error) {
      const refusal = asRefusal(error);
      noteCaller(draft, refusal.keyId, refusal.peer);
      draft.code = codeToString(refusal.error.code);
      draft.reason = refusal.error.rawMessage;
      await writeRefusal(request, response, refusal.error, refusal.headers);
      return;
    }
    const { caller, peer } = admission;
    noteCaller(draft, caller?.keyId ?? "", peer);
    const handler = handlers.get(path);
    if (handler === undefined) {
      draft.code = codeToString(Code.Unimplemented);
      response.writeHead(404);
      response.end();
      return;
    }
    const contextValues = createContextValues().set(kCaller, caller).set(kAudit, draft);
    let universalRequest = universalRequestFromNodeRequest(
      request,
      response,
      undefined,
      contextValues,
    );
    if (caller && (caller.signing?.required || isSigned(request.headers))) {
      // A signature covers the body as sent, so it is read whole and checked before any parsing.
      let received: Uint8Array;
      try {
        received = await readBody(
          universalRequest.body as AsyncIterable<Uint8Array>,
          options.maxMessageBytes + signedBodySlack,
        );
        await verifySignature({
          caller,
          path,
          headers: request.headers,
          // A Connect GET carries its message in the query: the signature covers it there.
          body: request.method === "GET" ? connectGetMessage(request.url ?? "") : received,
          keys: options.keys,
          now: Math.floor(Date.now() / 1000),
        });
      } catch (error) {
        const refusal = ConnectError.from(error);
        draft.code = codeToString(refusal.code);
        draft.reason = refusal.rawMessage;
        await writeRefusal(request, response, refusal);
        return;
      }
      universalRequest = { ...universalRequest, body: replay(received) };
    }
    const body = universalRequest.body;
    const universalResponse = await handler(
      body && Symbol.asyncIterator in Object(body)
        ? {
            ...universalRequest,
            body: counted(body as AsyncIterable<Uint8Array>, (n) => (meter.in += n)),
          }
        : universalRequest,
    );
    let answer = universalResponse;
    if (!draft.code)
      ({ code: draft.code, response: answer } = await codeOfResponse(universalResponse));
    // An error may come before the body was read to its end (a message over the size limit):
    // it waits for the rest of the body, as refusals do.
    if (draft.code !== "ok") await discardBody(request);
    const responseBody = answer.body;
    await universalResponseToNodeResponse(
      responseBody ? { ...answer, body: counted(responseBody, (n) => (meter.out += n)) } : answer,
      response,
    );
  }

  /** audited starts a request's audit draft (see recordAudit). */
  function audited(procedure: string, peerIp: string, headers: IncomingHttpHeaders): AuditedCall {
    const draft: AuditDraft = {
      procedure,
      peerIp,
      userAgent: String(headers["user-agent"] ?? ""),
      protocol: protocolOf(String(headers["content-type"] ?? "")),
    };
    return { draft, meter: { in: 0, out: 0 }, startedAt: Date.now(), started: performance.now() };
  }

  /** recordAudit writes a request's audit event, once its response has closed. */
  function recordAudit({ draft, meter, startedAt, started }: AuditedCall): void {
    if (!options.audit.enabled) return;
    options.audit.record({
      ...draft,
      time: timestampFromMs(startedAt),
      code: draft.code || "canceled",
      durationMs: Math.round(performance.now() - started),
      bytesIn: BigInt(meter.in),
      bytesOut: BigInt(meter.out),
    });
  }

  const cors = createCors(options.corsOrigins);

  async function serveFast(
    exchange: FastExchange,
    route: FastRoute,
    protocol: FastProtocol,
    serve: FastServe,
    { draft, meter }: AuditedCall,
  ): Promise<void> {
    const { headers } = exchange;
    const path = draft.procedure ?? "";
    // A browser's call gets its CORS headers with whatever answer it gets, as on the general path.
    const answerHeaders = cors.headersFor(headers.origin);
    let admission: Admission;
    try {
      const admitted = options.door.admit({ path, headers, socketAddress: draft.peerIp ?? "" });
      // A known key is admitted at once: no turn of the microtask queue.
      admission = admitted instanceof Promise ? await admitted : admitted;
    } catch (error) {
      const refusal = asRefusal(error);
      noteCaller(draft, refusal.keyId, refusal.peer);
      return refuseFast(exchange, draft, refusal.error, {
        ...answerHeaders,
        ...refusal.headers,
      });
    }
    const { caller, peer } = admission;
    noteCaller(draft, caller?.keyId ?? "", peer);
    if (caller?.signing?.required) {
      // A key that must sign gets the refusal the general path gives an unsigned request.
      try {
        await verifySignature({
          caller,
          path,
          headers,
          body: new Uint8Array(),
          keys: options.keys,
          now: Math.floor(Date.now() / 1000),
        });
      } catch (error) {
        return refuseFast(exchange, draft, ConnectError.from(error), answerHeaders);
      }
    }
    const outcome = await serve(exchange, {
      route,
      protocol,
      limits,
      contextValues: createContextValues().set(kCaller, caller).set(kAudit, draft),
      shutdownSignal: options.router.shutdownSignal,
      answerHeaders,
    });
    draft.code = outcome.code;
    meter.in = outcome.bytesIn;
    meter.out = outcome.bytesOut;
  }

  /**
   * takeFast serves a call on the fast path and returns true, or returns false to leave it to
   * the general path. Server streams take it in gRPC only, which needs HTTP/2: their `stream`.
   */
  function takeFast(exchange: FastExchange, stream?: ServerHttp2Stream): boolean {
    const path = exchange.headers[":path"] ?? "";
    const route = fast.routes.get(path);
    const protocol = route && fastProtocolOf(exchange.headers);
    if (route === undefined || protocol === undefined) return false;
    if (protocol === "grpc" && stream === undefined) return false;
    let serve: FastServe = serveUnary;
    if (route.method.methodKind !== "unary") {
      if (protocol !== "grpc" || stream === undefined) return false;
      serve = (streamExchange, callOptions) =>
        serveServerStream(stream, streamExchange, callOptions);
    }
    const call = audited(path, exchange.remoteAddress, exchange.headers);
    if (options.audit.enabled) exchange.onClose(() => recordAudit(call));
    serveFast(exchange, route, protocol, serve, call).catch((error: unknown) => {
      if (exchange.closed) return;
      if (!exchange.answered) exchange.answer({ ":status": 500 }, undefined);
      options.onError(error);
    });
    return true;
  }

  const handler = (request: NodeRequest, response: NodeResponse) => {
    // A browser's preflight carries no key: it is answered before the door, and not audited.
    if (cors.answerPreflight(request, response)) return;
    // HTTP/2 calls that can take the fast path came off their streams (see `stream`).
    if (
      request.httpVersionMajor === 1 &&
      takeFast(new Http1Exchange(request as IncomingMessage, response as ServerResponse))
    ) {
      return;
    }
    cors.allow(request, response);
    const procedure = (request.url ?? "").split("?", 1)[0] ?? "";
    const call = audited(procedure, request.socket?.remoteAddress ?? "", request.headers);
    let closed = false;
    response.once("close", () => {
      closed = true;
      recordAudit(call);
    });
    serve(request, response, call.draft, call.meter).catch((error: unknown) => {
      // A caller that went away mid-stream is no error of ours: the audit says "canceled".
      if (closed) return;
      if (!response.headersSent) {
        response.writeHead(500);
        response.end();
      }
      options.onError(error);
    });
  };
  return Object.assign(handler, {
    stream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      takeFast(new Http2Exchange(stream, headers), stream),
  });
}
