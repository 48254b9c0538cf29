import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
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
import { discardBody, protocolOf, writeRefusal } from "../security/refusal-response.js";
import { isSigned, readBody, verifySignature } from "../security/signature-verifier.js";
import type { KeyStore } from "../store/key-store.js";
import { createCors } from "./cors.js";

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

async function* replay(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** Meter counts the body bytes of one request and its response. */
interface Meter {
  in: number;
  out: number;
}

async function* counted(
  body: AsyncIterable<Uint8Array>,
  add: (n: number) => void,
): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    add(chunk.byteLength);
    yield chunk;
  }
}

// When no interceptor saw the call end (a request that could not be parsed, or was too
// large), its code is read off the response: gRPC and gRPC-Web carry it in a status header or
// trailer, a Connect unary error in its small JSON body, which is read here and passed on.
async function codeOfResponse(
  response: UniversalServerResponse,
): Promise<{ code: string; response: UniversalServerResponse }> {
  const grpcStatus = response.trailer?.get("grpc-status") ?? response.header?.get("grpc-status");
  if (grpcStatus)
    return { code: grpcStatus === "0" ? "ok" : codeToString(Number(grpcStatus) as Code), response };
  if (response.status === 200 || response.body === undefined) {
    return {
      code: response.status === 200 ? "ok" : codeToString(codeFromHttpStatus(response.status)),
      response,
    };
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  let code = codeToString(codeFromHttpStatus(response.status));
  try {
    code = (JSON.parse(body.toString("utf8")) as { code?: string }).code ?? code;
  } catch {
    // Not a Connect error body: the HTTP status is all there is.
  }
  return {
    code,
    response: {
      ...response,
      body: replay(body),
    },
  };
}

/**
 * createRpcHandler serves Connect, gRPC and gRPC-Web like connect-node's adapter, with the
 * door in front: network rules, key, scope and rate are checked from the headers alone, so a
 * refused caller's body is never parsed (only let through and dropped). A signed request's body
 * is read whole and verified before the handler sees it. Every request, allowed or refused,
 * leaves an audit event.
 */
export function createRpcHandler(options: RpcHandlerOptions): RequestHandler {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...options.router,
    interceptors: [createAuditInterceptor(), ...(options.router.interceptors ?? [])],
  });
  options.routes(router);
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
      draft.keyId = refusal.keyId;
      draft.peerIp = refusal.peer.ip;
      draft.country = refusal.peer.country;
      draft.code = codeToString(refusal.error.code);
      draft.reason = refusal.error.rawMessage;
      await writeRefusal(request, response, refusal.error, refusal.headers);
      return;
    }
    const { caller, peer } = admission;
    draft.keyId = caller?.keyId ?? "";
    draft.peerIp = peer.ip;
    draft.country = peer.country;
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
          body: received,
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

  const cors = createCors(options.corsOrigins);
  return (request, response) => {
    // A browser's preflight carries no key: it is answered before the door, and not audited.
    if (cors.answerPreflight(request, response)) return;
    cors.allow(request, response);
    const started = performance.now();
    const draft: AuditDraft = {
      time: timestampNow(),
      procedure: (request.url ?? "").split("?", 1)[0] ?? "",
      peerIp: request.socket?.remoteAddress ?? "",
      userAgent: String(request.headers["user-agent"] ?? ""),
      protocol: protocolOf(String(request.headers["content-type"] ?? "")),
    };
    const meter: Meter = { in: 0, out: 0 };
    let closed = false;
    response.once("close", () => {
      closed = true;
      options.audit.record({
        ...draft,
        code: draft.code || "canceled",
        durationMs: Math.round(performance.now() - started),
        bytesIn: BigInt(meter.in),
        bytesOut: BigInt(meter.out),
      });
    });
    serve(request, response, draft, meter).catch((error: unknown) => {
      // A caller that went away mid-stream is no error of ours: the audit says "canceled".
      if (closed) return;
      if (!response.headersSent) {
        response.writeHead(500);
        response.end();
      }
      options.onError(error);
    });
  };
}
