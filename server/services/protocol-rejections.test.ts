import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "../test-support.js";

let server: TestAgent;

beforeAll(async () => {
  server = await startTestAgent();
});

afterAll(async () => {
  await server?.stop();
});

/** call sends a request over HTTP/1.1 (as curl does) and reads the answer whole. */
async function call(path: string, init: RequestInit) {
  const response = await fetch(new URL(path, server.url), {
    ...init,
    headers: { authorization: `Bearer ${server.apiKey}`, ...init.headers },
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

describe("a call the protocol cannot read", () => {
  it.each([
    {
      name: "a unary call in a content type nobody speaks",
      path: "/noizylab.agent.v1.TaskService/Submit",
      init: { method: "POST", headers: { "content-type": "text/plain" }, body: "x" },
      status: 415,
      code: "invalid_argument",
      message: 'content type "text/plain" is not one noizylab.agent.v1.TaskService/Submit takes',
    },
    {
      name: "a server stream as a plain JSON call",
      path: "/noizylab.agent.v1.TaskService/Run",
      init: { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
      status: 415,
      code: "invalid_argument",
      message: "use application/connect+json with an enveloped message, or TaskService/Submit",
    },
    {
      name: "a GET of a method with side effects",
      path: "/noizylab.agent.v1.TaskService/Submit",
      init: { method: "GET" },
      status: 405,
      code: "unimplemented",
      message: "takes POST, not GET",
    },
    {
      name: "a 20 MiB body",
      path: "/noizylab.agent.v1.TaskService/Submit",
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ spec: { echo: { text: "x".repeat(20 * 1024 * 1024) } } }),
      },
      status: 429,
      code: "resource_exhausted",
      message: "is larger than configured readMaxBytes 4194304",
    },
  ])("answers $name with a Connect error saying what to send", async (row) => {
    const answer = await call(row.path, row.init);
    expect(answer.status).toBe(row.status);
    expect(answer.body).toMatchObject({ code: row.code });
    expect((answer.body as { message: string }).message).toContain(row.message);
  });
});
