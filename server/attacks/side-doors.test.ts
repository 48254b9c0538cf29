// The attack suite, part three: ways around the door (docs/security.md, the threat model).
// Each test is a row of that table, by name.
import { statSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { closeCodes } from "../realtime/session.js";
import { connectWith, kind, upgradeStatus } from "../realtime/test-socket.js";
import { signedHeaders } from "../test-support.js";
import { startTarget, type Target } from "./target.js";

// Where tasks may send requests, here: a host that redirects, and another that records.
const [redirecting, recording] = ["127.0.0.8", "127.0.0.9"];
// A client the operator keeps out, and the proxy in front of the server.
const denied = "203.0.113.9";

let target: Target;
let redirector: Server;
let recorder: Server;
const recorded: IncomingHttpHeaders[] = [];
beforeAll(async () => {
  recorder = createServer((request, response) => {
    recorded.push(request.headers);
    response.end("ok");
  });
  await new Promise<void>((resolve) => recorder.listen(0, recording, resolve));
  const recorderUrl = `http://${recording}:${(recorder.address() as AddressInfo).port}/record`;
  redirector = createServer((_request, response) => {
    response.writeHead(302, { location: recorderUrl });
    response.end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, redirecting, resolve));
  target = await startTarget({
    CLOUDAGENT_TRUSTED_PROXIES: "127.0.0.1",
    CLOUDAGENT_IP_DENY: denied,
    CLOUDAGENT_FETCH_ALLOW: `${redirecting},${recording}`,
  });
});
afterAll(async () => {
  await target.stopAndCheck();
  for (const server of [redirector, recorder]) {
    server.closeAllConnections();
    server.close();
  }
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const echo = { task: { case: "echo" as const, value: { text: "mine" } } };

/** connectPing calls Ping in Connect's JSON with the given headers, as curl would. */
async function connectPing(headers: Record<string, string>) {
  const response = await fetch(new URL("/noizylab.agent.v1.AgentService/Ping", target.url), {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: "{}",
  });
  return { status: response.status, ...((await response.json()) as { code?: string }) };
}

describe("attacks around the door", () => {
  it("a key that must sign, unsigned over the socket", async () => {
    const { key } = await target.keyOf({ requireSignature: true });
    await target.underAttack(async () => {
      expect((await upgradeStatus(target, bearer(key))).status).toBe(401);
      const socket = await connectWith(target, {});
      socket.send({ requestId: "a", kind: { case: "auth", value: { apiKey: key } } });
      socket.send({
        requestId: "t",
        kind: { case: "task", value: { submit: { spec: echo } } },
      });
      expect(await socket.next(kind("error"))).toMatchObject({
        requestId: "a",
        kind: { value: { code: "unauthenticated" } },
      });
      expect((await socket.closed).code).toBe(closeCodes.unauthenticated);
      expect(socket.frames.filter((frame) => frame.kind.case === "task")).toEqual([]);
    });
  });

  it("a revoked key's open session", async () => {
    const { key, keyId } = await target.keyOf();
    await target.underAttack(async () => {
      const socket = await connectWith(target, bearer(key));
      const revoked = performance.now();
      await target.admin.keys.revokeKey({ keyId });
      const { code } = await socket.closed;
      expect(code).toBe(closeCodes.revoked);
      // Within a second of the revocation, as the door promises (docs/security.md).
      expect(performance.now() - revoked).toBeLessThan(1_000);
      expect((await upgradeStatus(target, bearer(key))).status).toBe(401);
    });
  });

  it("a client-written forwarded address, through a trusted proxy", async () => {
    const { key } = await target.keyOf();
    await target.underAttack(async () => {
      const refused = { status: 403, code: "permission_denied" };
      // The proxy appends the address it took the request from: the client wrote the left one.
      expect(
        await connectPing({ ...bearer(key), "x-forwarded-for": `1.2.3.4, ${denied}` }),
      ).toMatchObject(refused);
      // The proxies write X-Forwarded-For: a Forwarded header beside it is the client's.
      expect(
        await connectPing({ ...bearer(key), forwarded: "for=1.2.3.4", "x-forwarded-for": denied }),
      ).toMatchObject(refused);
      expect(await connectPing({ ...bearer(key), "x-forwarded-for": "1.2.3.4" })).toMatchObject({
        status: 200,
      });
    });
  });

  it("another key's idempotency key, task and cancel", async () => {
    const owner = await target.keyOf();
    const stranger = await target.keyOf();
    const delay = { task: { case: "delay" as const, value: { durationMs: 60_000 } } };
    await target.underAttack(async () => {
      const { task } = await owner.client.tasks.submit({ spec: delay, idempotencyKey: "inv-42" });
      const { task: theirs } = await stranger.client.tasks.submit({
        spec: delay,
        idempotencyKey: "inv-42",
      });
      for (const acknowledged of [task, theirs]) target.acknowledged.add(acknowledged?.id ?? "");
      expect(theirs?.id).not.toBe(task?.id);
      expect(theirs?.keyId).toBe(stranger.keyId);
      const taskId = task?.id ?? "";
      const notFound = { code: Code.NotFound, rawMessage: `task ${taskId} not found` };
      await expect(stranger.client.tasks.getTask({ taskId })).rejects.toMatchObject(notFound);
      await expect(stranger.client.tasks.cancelTask({ taskId })).rejects.toMatchObject(notFound);
      const watch = async () => {
        for await (const _ of stranger.client.tasks.watchTask({ taskId })) break;
      };
      await expect(watch()).rejects.toMatchObject(notFound);
    });
  });

  it("a key made with a negative rate", async () => {
    await target.underAttack(async () => {
      await expect(
        target.admin.keys.createKey({
          name: "unlimited",
          scopes: [Scope.TASKS_SUBMIT],
          rateLimit: { perSecond: -1, burst: 10 },
        }),
      ).rejects.toMatchObject({ code: Code.InvalidArgument });
    });
  });

  it("the database file, read by another user", async () => {
    await target.underAttack(async () => {
      expect(statSync(target.dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(target.dataDir, "cloudagent.db")).mode & 0o777).toBe(0o600);
    });
  });

  it("a rate-limited upgrade", async () => {
    const { key } = await target.keyOf({ rateLimit: { perSecond: 0.001, burst: 1 } });
    await target.underAttack(async () => {
      expect((await upgradeStatus(target, bearer(key))).status).toBe(101);
      const refused = await upgradeStatus(target, bearer(key));
      expect(refused.status).toBe(429);
      expect(Number(refused.retry)).toBeGreaterThan(0);
    });
  });

  it("a task's redirect to another host, with the caller's credentials", async () => {
    const { client } = await target.keyOf();
    const headers = { authorization: "Bearer secret", cookie: "session=secret", "x-trace": "kept" };
    const url = `http://${redirecting}:${(redirector.address() as AddressInfo).port}/`;
    await target.underAttack(async () => {
      let last: unknown;
      for await (const { event } of client.tasks.run({
        spec: { task: { case: "apiTester", value: { endpoints: [{ url, headers }] } } },
      })) {
        if (event?.taskId) target.acknowledged.add(event.taskId);
        last = event?.kind;
      }
      expect(last).toMatchObject({
        case: "result",
        value: { result: { case: "apiTester", value: { okCount: 1 } } },
      });
    });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ "x-trace": "kept" });
    expect(recorded[0]).not.toHaveProperty("authorization");
    expect(recorded[0]).not.toHaveProperty("cookie");
  });

  it("a signed Connect GET with its message swapped", async () => {
    const { key } = await target.keyOf({ requireSignature: true, scopes: [Scope.TASKS_READ] });
    const path = "/noizylab.agent.v1.TaskService/GetTask";
    const get = async (signedMessage: string, sentMessage: string) => {
      const query = new URLSearchParams({ connect: "v1", encoding: "json", message: sentMessage });
      const response = await fetch(new URL(`${path}?${query}`, target.url), {
        headers: await signedHeaders(key, path, signedMessage),
      });
      return (await response.json()) as { code: string; message: string };
    };
    const mine = '{"taskId":"0192a1b2-0000-7000-8000-000000000001"}';
    const theirs = '{"taskId":"0192a1b2-0000-7000-8000-000000000002"}';
    await target.underAttack(async () => {
      expect(await get(mine, mine)).toMatchObject({ code: "not_found" });
      expect(await get(mine, theirs)).toEqual({
        code: "unauthenticated",
        message: "bad request signature: the signature does not match the request",
      });
    });
  });
});
