import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ApiEndpoint,
  type ApiEndpointResult,
  ApiEndpointResultSchema,
  ApiTesterResultSchema,
  ApiTesterTaskSchema,
  ApiTimingsSchema,
} from "../../gen/noizylab/agent/v1/api_tester_pb.js";
import type { IncomingResponse } from "../net/guarded-request.js";
import { checkHttpUrl, checkRange, invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

const methods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const defaultConcurrency = 10;
const defaultTimeoutMs = 5_000;
const maxRedirects = 5;
/** Bodies are counted, not kept; one larger than this ends the check of its endpoint. */
const maxBodyBytes = 50 * 1024 * 1024;
const largeBody = 100 * 1024;

const round = (ms: number) => Math.round(ms * 10) / 10;

/** statusOk tells whether a status is the expected one, or any 2xx when none is. */
function statusOk(status: number, expected: number): boolean {
  return expected === 0 ? status >= 200 && status < 300 : status === expected;
}

/**
 * assess scores an answer and says how to improve it. From 100: -50 for an unexpected
 * status; -10, -25 or -40 past 300 ms, 1 s or 3 s in all; -10 over plain http; -5 per
 * redirect (at most -15); -5 for a body without a Content-Type; -10 for an uncompressed
 * body over 100 KB.
 */
function assess(endpoint: ApiEndpoint, response: IncomingResponse) {
  const advice: string[] = [];
  let score = 100;
  const expected = endpoint.expectedStatus;
  if (!statusOk(response.status, expected)) {
    score -= 50;
    const wanted = expected === 0 ? "a 2xx status" : String(expected);
    const hint =
      response.status >= 500
        ? "look at the server's logs"
        : "check the URL, the method, the headers and the body";
    advice.push(`answered ${response.status}, expected ${wanted}: ${hint}`);
  }
  const { totalMs, firstByteMs, dnsMs, connectMs } = response.timings;
  const slowness = totalMs > 3_000 ? 40 : totalMs > 1_000 ? 25 : totalMs > 300 ? 10 : 0;
  if (slowness > 0) {
    score -= slowness;
    advice.push(
      `took ${Math.round(totalMs)} ms (first byte after ${Math.round(firstByteMs)} ms): cache the answer or profile the slow path`,
    );
  }
  if (dnsMs > 100)
    advice.push(`resolving the name took ${Math.round(dnsMs)} ms: check the DNS setup`);
  if (connectMs > 100) {
    advice.push(`connecting took ${Math.round(connectMs)} ms: serve from closer to the callers`);
  }
  if (new URL(response.finalUrl).protocol === "http:") {
    score -= 10;
    advice.push("serve it over HTTPS");
  }
  if (response.redirects > 0) {
    score -= Math.min(15, 5 * response.redirects);
    advice.push(`redirected ${response.redirects} times: call ${response.finalUrl} directly`);
  }
  if (response.sizeBytes > 0 && !response.headers["content-type"]) {
    score -= 5;
    advice.push("send a Content-Type header");
  }
  if (response.sizeBytes > largeBody && !response.headers["content-encoding"]) {
    score -= 10;
    advice.push(
      `the body is ${Math.round(response.sizeBytes / 1024)} KB uncompressed: compress it (gzip or brotli) or page it`,
    );
  }
  return { score: Math.max(0, score), advice };
}

/**
 * apiTesterTask checks HTTP endpoints, several at a time: status, timings, size, a health
 * score and advice, with a progress event per endpoint. Requests go through the server's
 * guarded sender (TaskContext.request), which refuses internal addresses.
 */
export const apiTesterTask = defineTask({
  field: "apiTester",
  description:
    "Checks up to 100 HTTP endpoints in parallel: status, DNS/connect/TLS/first-byte timings, size, a health score and advice. Internal addresses are refused.",
  requestSchema: ApiTesterTaskSchema,
  resultSchema: ApiTesterResultSchema,
  // It waits on remote endpoints: its own work is bounded (at most 100, bodies counted, not parsed).
  cost: "constant",
  validate(input, path) {
    checkRange(`${path}.endpoints`, input.endpoints.length, 1, 100);
    if (input.concurrency !== 0) checkRange(`${path}.concurrency`, input.concurrency, 1, 50);
    input.endpoints.forEach((endpoint, index) => {
      const at = `${path}.endpoints[${index}]`;
      checkHttpUrl(`${at}.url`, endpoint.url);
      if (endpoint.method !== "" && !methods.has(endpoint.method.toUpperCase())) {
        throw invalidField(`${at}.method`, `must be one of ${[...methods].join(", ")}`);
      }
      if (endpoint.expectedStatus !== 0) {
        checkRange(`${at}.expected_status`, endpoint.expectedStatus, 100, 599);
      }
      if (endpoint.timeoutMs !== 0) checkRange(`${at}.timeout_ms`, endpoint.timeoutMs, 1, 60_000);
    });
  },
  async run(input, context) {
    const send = context.request;
    if (send === undefined) {
      throw new ConnectError("this server sends no HTTP requests", Code.FailedPrecondition);
    }
    const results: ApiEndpointResult[] = new Array(input.endpoints.length);
    let next = 0;
    let done = 0;
    const check = async (endpoint: ApiEndpoint): Promise<ApiEndpointResult> => {
      const result = create(ApiEndpointResultSchema, { url: endpoint.url });
      try {
        const headers = { "accept-encoding": "gzip, deflate, br", ...endpoint.headers };
        const response = await send({
          url: endpoint.url,
          method: endpoint.method.toUpperCase() || "GET",
          headers,
          body: endpoint.body === "" ? undefined : endpoint.body,
          timeoutMs: endpoint.timeoutMs || defaultTimeoutMs,
          maxBodyBytes,
          keepBody: false,
          maxRedirects: endpoint.noRedirects ? 0 : maxRedirects,
          signal: context.signal,
        });
        const { score, advice } = assess(endpoint, response);
        const t = response.timings;
        Object.assign(result, {
          finalUrl: response.finalUrl,
          status: response.status,
          ok: statusOk(response.status, endpoint.expectedStatus),
          timings: create(ApiTimingsSchema, {
            dnsMs: round(t.dnsMs),
            connectMs: round(t.connectMs),
            tlsMs: round(t.tlsMs),
            firstByteMs: round(t.firstByteMs),
            totalMs: round(t.totalMs),
          }),
          contentType: response.headers["content-type"] ?? "",
          sizeBytes: BigInt(response.sizeBytes),
          redirects: response.redirects,
          remoteAddress: response.remoteAddress,
          healthScore: score,
          recommendations: advice,
        });
      } catch (reason) {
        if (context.signal.aborted) throw reason;
        const error = ConnectError.from(reason);
        result.error = error.rawMessage;
        result.recommendations = [
          error.code === Code.DeadlineExceeded
            ? "no answer in time: raise timeout_ms, or find out why it hangs"
            : error.code === Code.PermissionDenied
              ? "this address is inside the server's networks: ask the operator to allow it"
              : "make sure the host resolves and accepts connections",
        ];
      }
      return result;
    };
    const lanes = Math.min(input.concurrency || defaultConcurrency, input.endpoints.length);
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let index = next++; index < input.endpoints.length; index = next++) {
          const endpoint = input.endpoints[index] as ApiEndpoint;
          const result = await check(endpoint);
          results[index] = result;
          done++;
          const outcome = result.error || String(result.status);
          context.progress((done / input.endpoints.length) * 100, `${endpoint.url}: ${outcome}`);
        }
      }),
    );
    const okCount = results.filter((r) => r.ok).length;
    return create(ApiTesterResultSchema, {
      results,
      okCount,
      averageHealthScore: round(
        results.reduce((sum, r) => sum + r.healthScore, 0) / results.length,
      ),
    });
  },
});
