import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "../test-support.js";
import { version } from "../version.js";

let server: TestAgent;

beforeAll(async () => {
  server = await startTestAgent();
});

afterAll(async () => {
  await server?.stop();
});

/** getOverHttp2 reads `GET /` over HTTP/2, without a key. */
function getOverHttp2(): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(server.url.href);
    session.on("error", reject);
    const stream = session.request({ ":method": "GET", ":path": "/" });
    let status = 0;
    let body = "";
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    stream.on("error", reject);
  });
}

describe("GET /", () => {
  it("tells anyone, without a key, what the server is and where its ways in are", async () => {
    const overHttp1 = await fetch(server.url);
    expect(overHttp1.status).toBe(200);
    expect(overHttp1.headers.get("content-type")).toBe("application/json");
    const text = await overHttp1.text();
    const document = JSON.parse(text) as Record<string, unknown>;
    expect(document).toMatchObject({
      name: "cloudagent",
      version,
      services: expect.arrayContaining([
        "grpc.health.v1.Health",
        "noizylab.agent.v1.TaskService",
        "noizylab.agent.v1.KeyService",
      ]),
      endpoints: { websocket: expect.stringContaining("/ws") },
    });
    // Nothing secret: not the admin key, nor where the data lives.
    expect(text).not.toContain(server.apiKey);
    expect(text).not.toContain(server.config.dataDir);
    expect(await getOverHttp2()).toEqual({ status: 200, body: text });
  });
});
