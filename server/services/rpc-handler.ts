import type { IncomingMessage, ServerResponse } from "node:http";
import {
  constants as http2Constants,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { Readable } from "node:stream";
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
import {
  type AuditedCall,
  finishAudit,
  noteCaller,
  noteRefusal,
  startAudit,
} from "../audit/request-audit.js";
import type { NodeRequest, NodeResponse, RequestHandler } from "../listener/node-types.js";
import { type AuditDraft, kAudit, kCaller } from "../security/context.js";
import { type Admission, asRefusal, type Door, type Refusal } from "../security/door.js";
import {
  discardBody,
  protocolOf,
  refusalAnswer,
  writeRefusal,
} from "../security/refusal-response.js";
import { connectGetMessage } from "../security/signature-verifier.js";
import { createCors } from "./cors.js";
import { type Body, readBody, wholeBody } from "./fast-call.js";
import { type FastExchange, Http1Exchange, Http2Exchange } from "./fast-exchange.js";
import { explainRejection } from "./protocol-rejections.js";
import { codeOfResponse, counted, replay } from "./response-bodies.js";
import { serviceDocument } from "./service-document.js";
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
  /** The largest request message; a signed body is read whole, up to this and its framing. */
  readonly maxMessageBytes: number;
  /** Origins whose browser pages may call (CORS); "*" for any. */
  readonly corsOrigins: readonly string[];
  readonly onError: (error: unknown) => void;
}

// Room for the framing of a signed body (envelope headers) beyond its message.
const signedBodySlack = 64;

/** refuseFast answers a refused fast call, once its body has arrived. */
async function refuseFast(
  exchange: FastExchange,
  draft: AuditDraft,
  refusal: Refusal,
  answerHeaders?: Record<string, string>,
): Promise<void> {
  noteRefusal(draft, refusal);
  const answer = refusalAnswer(String(exchange.headers["content-type"]), refusal.error, {
    ...answerHeaders,
    ...refusal.headers,
  });
  exchange.answer({ ":status": answer.status, ...answer.headers }, answer.body);
  await discardBody(exchange.body);
}

/** cutOff ends a response at once, as it stands: its HTTP/2 stream reset, or its connection cut. */
function cutOff(response: NodeResponse): void {
  if ("stream" in response) response.stream.close(http2Constants.NGHTTP2_CANCEL);
  else response.destroy();
}

/** auditedCall starts the audit event of a call over HTTP, in the protocol its content type names. */
const auditedCall = (procedure: string, peerIp: string, headers: IncomingHttpHeaders) =>
  startAudit(
    procedure,
    peerIp,
    headers["user-agent"],
    protocolOf(String(headers["content-type"] ?? "")),
  );

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

  /**
   * readSigned reads a signed call's body whole, up to the largest message and its framing,
   * and checks its signature (over the query's message for a Connect GET, at `getTarget`)
   * before anything parses it: a signature covers the body as sent. Throws the Refusal.
   */
  async function readSigned(
    admission: Admission,
    path: string,
    headers: IncomingHttpHeaders,
    stream: Readable,
    getTarget?: string,
  ): Promise<Body> {
    const maxBytes = options.maxMessageBytes + signedBodySlack;
    const body = await readBody(stream, maxBytes);
    if (!body.complete) {
      const tooLarge = new ConnectError(
        `request body exceeds ${maxBytes} bytes`,
        Code.ResourceExhausted,
      );
      throw asRefusal(tooLarge, admission.peer, admission.caller?.keyId);
    }
    await options.door.verify(admission, {
      path,
      headers,
      body: getTarget === undefined ? wholeBody(body) : connectGetMessage(getTarget),
    });
    return body;
  }

  /**
   * serve serves a call on the general path; `onClose` runs a task once its response has
   * closed (at once, if it has already).
   */
  async function serve(
    request: NodeRequest,
    response: NodeResponse,
    { draft, meter }: AuditedCall,
    onClose: (task: () => void) => void,
  ): Promise<void> {
    const path = draft.procedure ?? "";
    const refuse = (refusal: Refusal) => {
      noteRefusal(draft, refusal);
      return writeRefusal(request, response, refusal.error, refusal.headers);
    };
    const { door } = options;
    let admission: Admission;
    try {
      admission = await door.admit({
        path,
        headers: request.headers,
        socketAddress: request.socket?.remoteAddress ?? "",
      });
    } catch (error) {
      return refuse(asRefusal(error));
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
    if (handler.method.methodKind !== "unary") {
      try {
        // Cut off at once when its key is revoked or expires.
        onClose(door.hold("stream", admission, () => cutOff(response)));
      } catch (error) {
        return refuse(asRefusal(error));
      }
    }
    const contextValues = createContextValues().set(kCaller, caller).set(kAudit, draft);
    let universalRequest = universalRequestFromNodeRequest(
      request,
      response,
      undefined,
      contextValues,
    );
    if (door.signatureDue(admission, request.headers)) {
      let signed: Body;
      try {
        // A Connect GET carries its message in the query: the signature covers it there.
        const getTarget = request.method === "GET" ? (request.url ?? "") : undefined;
        signed = await readSigned(admission, path, request.headers, request, getTarget);
      } catch (error) {
        return refuse(asRefusal(error, peer, caller?.keyId));
      }
      universalRequest = { ...universalRequest, body: replay(wholeBody(signed)) };
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
    let answer = explainRejection(
      universalResponse,
      handler.method,
      request.method ?? "",
      String(request.headers["content-type"] ?? ""),
    );
    if (!draft.code) ({ code: draft.code, response: answer } = await codeOfResponse(answer));
    const responseBody = answer.body;
    await universalResponseToNodeResponse(
      responseBody ? { ...answer, body: counted(responseBody, (n) => (meter.out += n)) } : answer,
      response,
    );
    // An error may come before the body was read to its end (a message over the size limit):
    // the rest is let in and dropped after the answer, as for refusals.
    if (draft.code !== "ok") await discardBody(request);
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
    const { door } = options;
    let admission: Admission;
    let body: Body | undefined;
    try {
      const admitted = door.admit({ path, headers, socketAddress: draft.peerIp ?? "" });
      // A known key is admitted at once: no turn of the microtask queue.
      admission = admitted instanceof Promise ? await admitted : admitted;
      if (door.signatureDue(admission, headers)) {
        body = await readSigned(admission, path, headers, exchange.body);
      }
      if (route.method.methodKind !== "unary") {
        // Cut off at once when its key is revoked or expires.
        exchange.onClose(door.hold("stream", admission, () => exchange.abort()));
      }
    } catch (error) {
      return refuseFast(exchange, draft, asRefusal(error), answerHeaders);
    }
    const { caller, peer } = admission;
    noteCaller(draft, caller?.keyId ?? "", peer);
    const outcome = await serve(exchange, {
      route,
      protocol,
      limits,
      contextValues: createContextValues().set(kCaller, caller).set(kAudit, draft),
      shutdownSignal: options.router.shutdownSignal,
      answerHeaders,
      body,
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
    const call = auditedCall(path, exchange.remoteAddress, exchange.headers);
    if (options.audit.enabled) exchange.onClose(() => finishAudit(options.audit, call));
    serveFast(exchange, route, protocol, serve, call).catch((error: unknown) => {
      if (exchange.closed) return;
      if (!exchange.answered) exchange.answer({ ":status": 500 }, undefined);
      options.onError(error);
    });
    return true;
  }

  const aboutThisServer = serviceDocument(router.handlers.map((h) => h.service.typeName));
  const handler = (request: NodeRequest, response: NodeResponse) => {
    // A browser's preflight carries no key: it is answered before the door, and not audited.
    if (cors.answerPreflight(request, response)) return;
    // What this server is, for anyone who opens it (see serviceDocument): no key, no audit.
    if (request.method === "GET" && request.url === "/") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(aboutThisServer);
      return;
    }
    // HTTP/2 calls that can take the fast path came off their streams (see `stream`).
    if (
      request.httpVersionMajor === 1 &&
      takeFast(new Http1Exchange(request as IncomingMessage, response as ServerResponse))
    ) {
      return;
    }
    cors.allow(request, response);
    const procedure = (request.url ?? "").split("?", 1)[0] ?? "";
    const call = auditedCall(procedure, request.socket?.remoteAddress ?? "", request.headers);
    let closed = false;
    const closing: (() => void)[] = [];
    response.once("close", () => {
      closed = true;
      for (const task of closing) task();
      finishAudit(options.audit, call);
    });
    const onClose = (task: () => void) => (closed ? task() : closing.push(task));
    serve(request, response, call, onClose).catch((error: unknown) => {
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
