import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AddressPolicy } from "./address-policy.js";

/** OutgoingRequest is one HTTP request to send. */
export interface OutgoingRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  /** The whole exchange, redirects included, in milliseconds. */
  readonly timeoutMs: number;
  /** A response body larger than this fails the request. */
  readonly maxBodyBytes: number;
  /** Whether to keep the body (else it is only counted). */
  readonly keepBody: boolean;
  /** Redirects followed at most; 0 returns the redirect itself. */
  readonly maxRedirects: number;
  readonly signal: AbortSignal;
}

/** Timings of the last hop, and the total, in milliseconds. */
export interface Timings {
  readonly dnsMs: number;
  readonly connectMs: number;
  readonly tlsMs: number;
  readonly firstByteMs: number;
  readonly totalMs: number;
}

/** IncomingResponse is what came back. */
export interface IncomingResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Uint8Array;
  readonly sizeBytes: number;
  readonly finalUrl: string;
  readonly redirects: number;
  /** The address the last hop connected to. */
  readonly remoteAddress: string;
  readonly timings: Timings;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

function refused(target: string, address: string): ConnectError {
  return new ConnectError(
    `${target} is ${address}, an internal address: refused (an operator may allow it with fetchAllow)`,
    Code.PermissionDenied,
  );
}

/**
 * guardedLookup resolves a host name and hands the connection only an address the policy
 * permits: the check is on the very address the socket then connects to, so a name that
 * resolves differently a moment later (DNS rebinding) cannot slip through.
 */
function guardedLookup(policy: AddressPolicy, resolved: (at: number) => void): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
      resolved(performance.now());
      if (error) return callback(error, "", 4);
      const all = addresses as LookupAddress[];
      const permitted = all.filter((entry) => policy.permits(entry.address));
      const chosen = permitted[0];
      if (chosen === undefined) {
        // The refusal travels as the request's error, and comes out of guardedRequest as is.
        const refusal = refused(hostname, all[0]?.address ?? "unknown");
        return callback(refusal as unknown as NodeJS.ErrnoException, "", 4);
      }
      if (options.all)
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, [chosen]);
      else callback(null, chosen.address, chosen.family);
    });
  };
}

/** targetOf checks a URL's scheme and, for an IP literal in any spelling, its address. */
function targetOf(raw: string, policy: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConnectError(`${JSON.stringify(raw)} is not a URL`, Code.InvalidArgument);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConnectError(
      `${url.protocol} URLs are not fetched: use http or https`,
      Code.InvalidArgument,
    );
  }
  if (url.username || url.password) {
    throw new ConnectError(
      "URLs with credentials are not fetched: send a header",
      Code.InvalidArgument,
    );
  }
  // WHATWG parsing has already turned 2130706433, 0x7f.1 and [::ffff:127.0.0.1] into the
  // canonical forms checked here.
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0 && !policy.permits(host)) throw refused(url.host, host);
  return url;
}

interface Hop {
  readonly response: http.IncomingMessage;
  readonly remoteAddress: string;
  readonly timings: Omit<Timings, "totalMs">;
}

// Headers that carry credentials, by name: the standard ones, and the usual custom spellings.
const credentialHeader =
  /^(authorization|proxy-authorization|cookie)$|token|key|secret|auth|session/i;

/**
 * headersAfterRedirect are the headers of the next hop: as they were, when it stays on the
 * same origin (scheme, host and port); without any that carry credentials when it leaves it,
 * as curl and browsers do (a redirect must not hand a caller's key to another host).
 */
export function headersAfterRedirect(
  headers: Readonly<Record<string, string>>,
  from: URL,
  to: URL,
): Readonly<Record<string, string>> {
  if (from.origin === to.origin) return headers;
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !credentialHeader.test(name)),
  );
}

function send(
  url: URL,
  headers: Readonly<Record<string, string>>,
  method: string,
  body: string | undefined,
  policy: AddressPolicy,
  signal: AbortSignal,
  started: number,
): Promise<Hop> {
  return new Promise((resolve, reject) => {
    let dnsAt = started;
    let connectAt = started;
    let tlsAt = started;
    const client = (url.protocol === "https:" ? https : http).request(url, {
      method,
      headers,
      lookup: guardedLookup(policy, (at) => {
        dnsAt = at;
      }),
      // A fresh connection per hop: each is checked, and the timings mean what they say.
      agent: false,
      signal,
    });
    client.once("socket", (socket) => {
      socket.once("connect", () => {
        connectAt = performance.now();
      });
      socket.once("secureConnect", () => {
        tlsAt = performance.now();
      });
    });
    client.once("response", (response) => {
      const firstByteAt = performance.now();
      const since = (at: number) => Math.max(0, at - started);
      resolve({
        response,
        remoteAddress: response.socket?.remoteAddress ?? "",
        timings: {
          dnsMs: since(dnsAt),
          connectMs: Math.max(0, connectAt - dnsAt),
          tlsMs: url.protocol === "https:" ? Math.max(0, tlsAt - connectAt) : 0,
          firstByteMs: since(firstByteAt),
        },
      });
    });
    client.once("error", reject);
    client.end(body);
  });
}

async function readBody(
  response: http.IncomingMessage,
  request: OutgoingRequest,
): Promise<{ body: Uint8Array; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > request.maxBodyBytes) {
      response.destroy();
      throw new ConnectError(
        `the response is larger than ${request.maxBodyBytes} bytes`,
        Code.ResourceExhausted,
      );
    }
    if (request.keepBody) chunks.push(chunk);
  }
  return { body: new Uint8Array(Buffer.concat(chunks)), size };
}

/**
 * guardedRequest sends a request where the policy permits, following redirects (each hop
 * checked the same way), within the request's time limit.
 */
export async function guardedRequest(
  request: OutgoingRequest,
  policy: AddressPolicy,
): Promise<IncomingResponse> {
  const started = performance.now();
  const signal = AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs)]);
  let url = targetOf(request.url, policy);
  let headers = request.headers;
  let method = request.method;
  let body = request.body;
  try {
    for (let redirects = 0; ; redirects++) {
      const hop = await send(url, headers, method, body, policy, signal, performance.now());
      const { response } = hop;
      const location = response.headers.location;
      const status = response.statusCode ?? 0;
      if (redirectStatuses.has(status) && location && redirects < request.maxRedirects) {
        response.resume();
        const next = targetOf(new URL(location, url).href, policy);
        headers = headersAfterRedirect(headers, url, next);
        url = next;
        if (status === 303) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      const { body: received, size } = await readBody(response, request);
      return {
        status,
        headers: response.headers,
        body: received,
        sizeBytes: size,
        finalUrl: url.href,
        redirects,
        remoteAddress: hop.remoteAddress,
        timings: { ...hop.timings, totalMs: performance.now() - started },
      };
    }
  } catch (error) {
    if (error instanceof ConnectError) throw error;
    if (request.signal.aborted) throw request.signal.reason;
    if (signal.aborted) {
      throw new ConnectError(`no answer within ${request.timeoutMs} ms`, Code.DeadlineExceeded);
    }
    const code = (error as { code?: string }).code;
    throw new ConnectError(
      `${url.host}: ${code ?? ""} ${(error as Error).message}`.trim(),
      Code.Unavailable,
    );
  }
}
