import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ApiEndpointSchema,
  ApiTesterTaskSchema,
} from "../../gen/noizylab/agent/v1/api_tester_pb.js";
import { apiTesterTask } from "./api-tester.js";
import { testContext } from "./task-testing.js";

// A local service with the behaviours an API tester meets: fast, slow, failing,
// redirecting (also to an address it may not reach), large, and hanging.
let server: Server;
let base = "";
let port = 0;
let other: Server;
let otherPort = 0;
const recorded: IncomingHttpHeaders[] = [];
beforeAll(async () => {
  server = createServer(async (request, response) => {
    switch (request.url) {
      case "/ok":
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"status":"up"}');
        return;
      case "/slow":
        await sleep(400);
        response.writeHead(200, { "content-type": "text/plain" });
        response.end("late");
        return;
      case "/fail":
        response.writeHead(500, { "content-type": "text/plain" });
        response.end("boom");
        return;
      case "/redirect":
        response.writeHead(302, { location: "/ok" });
        response.end();
        return;
      case "/redirect-inside":
        response.writeHead(302, { location: `http://127.0.0.2:${port}/ok` });
        response.end();
        return;
      case "/redirect-away":
        response.writeHead(302, { location: `http://127.0.0.2:${otherPort}/record` });
        response.end();
        return;
      case "/big":
        response.writeHead(200, { "content-type": "text/plain" });
        response.end("x".repeat(200 * 1024));
        return;
      default:
        // /hang: never answers.
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  // Another host: it bounces to itself, and records the headers that reach it.
  other = createServer((request, response) => {
    if (request.url === "/bounce") {
      response.writeHead(302, { location: "/record" });
      response.end();
      return;
    }
    recorded.push(request.headers);
    response.end("ok");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.2", resolve));
  otherPort = (other.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  other.closeAllConnections();
  other.close();
});

type Endpoint = MessageInitShape<typeof ApiEndpointSchema>;

const test = (endpoints: Endpoint[], allow: string[] = ["127.0.0.1"], concurrency = 0) => {
  const { context, reports } = testContext({ allow });
  const input = create(ApiTesterTaskSchema, { endpoints, concurrency });
  apiTesterTask.validate(input, "spec.api_tester");
  return apiTesterTask.run(input, context).then((result) => ({ result, reports }));
};

describe("api-tester task", () => {
  it("checks endpoints in parallel: status, timings, size, score and advice, with progress", async () => {
    const { result, reports } = await test([
      { url: `${base}/ok` },
      { url: `${base}/slow` },
      { url: `${base}/fail` },
      { url: `${base}/redirect` },
      { url: `${base}/big` },
      { url: `${base}/fail`, expectedStatus: 500 },
    ]);
    const [ok, slow, fail, redirect, big, expectedFail] = result.results;
    expect(ok).toMatchObject({
      status: 200,
      ok: true,
      contentType: "application/json",
      sizeBytes: 15n,
      remoteAddress: "127.0.0.1",
      error: "",
    });
    expect(ok?.timings?.totalMs).toBeGreaterThan(0);
    expect(ok?.timings?.firstByteMs).toBeLessThanOrEqual(ok?.timings?.totalMs ?? 0);
    // Plain http costs 10 points.
    expect(ok?.healthScore).toBe(90);
    expect(ok?.recommendations).toEqual(["serve it over HTTPS"]);
    expect(slow?.timings?.firstByteMs).toBeGreaterThanOrEqual(390);
    expect(slow?.healthScore).toBe(80);
    expect(slow?.recommendations[0]).toMatch(/^took \d+ ms/);
    expect(fail).toMatchObject({ status: 500, ok: false, healthScore: 40 });
    expect(fail?.recommendations[0]).toBe(
      "answered 500, expected a 2xx status: look at the server's logs",
    );
    expect(redirect).toMatchObject({ status: 200, redirects: 1, finalUrl: `${base}/ok` });
    expect(redirect?.recommendations).toContain(`redirected 1 times: call ${base}/ok directly`);
    expect(big?.sizeBytes).toBe(BigInt(200 * 1024));
    expect(big?.recommendations.some((r) => r.includes("compress"))).toBe(true);
    expect(expectedFail?.ok).toBe(true);
    expect(result.okCount).toBe(5);
    expect(reports).toHaveLength(6);
    expect(reports.at(-1)?.percent).toBe(100);
  });

  it("reports a timeout and an unreachable host on their endpoint, and checks the others", async () => {
    const { result } = await test([
      { url: `${base}/hang`, timeoutMs: 200 },
      { url: "http://127.0.0.1:1/", timeoutMs: 1_000 },
      { url: `${base}/ok` },
    ]);
    expect(result.results[0]).toMatchObject({ status: 0, ok: false, healthScore: 0 });
    expect(result.results[0]?.error).toBe("no answer within 200 ms");
    expect(result.results[1]?.error).toMatch(/ECONNREFUSED/);
    expect(result.results[2]?.ok).toBe(true);
  });

  it.each([
    ["loopback", (p: number) => `http://127.0.0.1:${p}/ok`],
    ["a decimal spelling of loopback", (p: number) => `http://2130706433:${p}/ok`],
    ["a hex spelling of loopback", (p: number) => `http://0x7f.1:${p}/ok`],
    ["IPv4-mapped IPv6 loopback", (p: number) => `http://[::ffff:127.0.0.1]:${p}/ok`],
    ["IPv6 loopback", (p: number) => `http://[::1]:${p}/ok`],
    ["a name that resolves to loopback", (p: number) => `http://localhost:${p}/ok`],
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/"],
    ["a private network", () => "http://10.0.0.1/"],
    ["the IPv6 metadata address", () => "http://[fd00:ec2::254]/"],
  ])("refuses %s unless the operator allows it", async (_, urlOf) => {
    const { result } = await test([{ url: urlOf(port), timeoutMs: 2_000 }], []);
    expect(result.results[0]?.status).toBe(0);
    expect(result.results[0]?.error).toMatch(/an internal address: refused/);
  });

  it("checks every redirect hop: a redirect into the server's networks is refused", async () => {
    const { result } = await test([{ url: `${base}/redirect-inside` }]);
    expect(result.results[0]?.error).toBe(
      `127.0.0.2:${port} is 127.0.0.2, an internal address: refused (an operator may allow it with fetchAllow)`,
    );
  });

  it("keeps the caller's credentials on its own host only: a redirect elsewhere drops them", async () => {
    const headers = {
      authorization: "Bearer secret",
      "x-api-key": "secret",
      cookie: "session=secret",
      "x-trace": "kept",
    };
    const allow = ["127.0.0.1", "127.0.0.2"];
    recorded.length = 0;
    const { result } = await test(
      [
        { url: `http://127.0.0.2:${otherPort}/bounce`, headers },
        { url: `${base}/redirect-away`, headers },
      ],
      allow,
      1,
    );
    expect(result.results.map((r) => r.status)).toEqual([200, 200]);
    expect(recorded).toHaveLength(2);
    expect(recorded[0]).toMatchObject(headers);
    expect(recorded[1]).toMatchObject({ "x-trace": "kept" });
    for (const name of ["authorization", "x-api-key", "cookie"]) {
      expect(recorded[1]).not.toHaveProperty(name);
    }
  });

  it("refuses bad input at submit, naming the field", () => {
    const bad = (endpoints: Endpoint[]) => () =>
      apiTesterTask.validate(create(ApiTesterTaskSchema, { endpoints }), "spec.api_tester");
    expect(bad([])).toThrow("spec.api_tester.endpoints: must be between 1 and 100, got 0");
    expect(bad([{ url: "file:///etc/passwd" }])).toThrow(
      "spec.api_tester.endpoints[0].url: must be http or https, got file:",
    );
    expect(bad([{ url: "http://x", method: "TRACE" }])).toThrow(
      "spec.api_tester.endpoints[0].method",
    );
    expect(bad([{ url: "not a url" }])).toThrow('"not a url" is not a URL');
  });
});
