// The attack suite, part one: holding connections open for nothing (docs/security.md, the
// threat model). Each test is a row of that table, by name.
import * as http2 from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { connectWith } from "../realtime/test-socket.js";
import { http2Preface, openMany, openRaw, type RawConnection, trickle } from "./raw-clients.js";
import { startTarget, type Target, targetFileLimit } from "./target.js";

let target: Target;
beforeAll(async () => {
  // Deadlines of a second instead of ten, and an idle timeout of a second instead of five
  // minutes: the attacks here wait them out.
  target = await startTarget({
    CLOUDAGENT_HEADER_TIMEOUT_MS: "1000",
    CLOUDAGENT_IDLE_TIMEOUT_MS: "1000",
  });
});
afterAll(() => target.stopAndCheck());

/** allClosed waits until the server has closed every one of the connections. */
const allClosed = (connections: RawConnection[]) =>
  Promise.all(connections.map((connection) => connection.closed));

const echo = { task: { case: "echo" as const, value: { text: "still here" } } };

describe("attacks on the connections", () => {
  it("connections that send the HTTP/2 preface and settings, and nothing more", async () => {
    await target.underAttack(async () => {
      // More than one address may hold (256): those past it are reset as they come.
      const held = await openMany(600, () => openRaw(target.url, "127.0.0.2", http2Preface));
      await allClosed(held);
    });
  });

  it("an HTTP/1.1 body that trickles in, a byte every 2 s", async () => {
    await target.underAttack(async () => {
      const request = "POST /noizylab.agent.v1.TaskService/Submit HTTP/1.1\r\nhost: x\r\n";
      const slow = await openMany(200, () =>
        openRaw(target.url, "127.0.0.3", `${request}content-length: 1000000\r\n\r\n{`),
      );
      for (const connection of slow) trickle(connection, " ", 2_000);
      await allClosed(slow);
    });
  });

  it("HTTP/1.1 headers that never end (slowloris)", async () => {
    await target.underAttack(async () => {
      const slow = await openMany(200, () =>
        openRaw(target.url, "127.0.0.4", "GET /grpc.health.v1.Health/Check HTTP/1.1\r\n"),
      );
      for (const connection of slow) trickle(connection, "x", 200);
      await allClosed(slow);
    });
  });

  it("HTTP/2 connections left open with no stream", async () => {
    await target.underAttack(async () => {
      const sessions = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const session = http2.connect(target.url, {
            createConnection: () =>
              connect({
                host: target.url.hostname,
                port: Number(target.url.port),
                localAddress: "127.0.0.5",
              }),
          });
          session.on("error", () => {});
          const stream = session.request({ ":path": "/grpc.health.v1.Health/Check" });
          stream.on("error", () => {});
          stream.resume();
          stream.end();
          await new Promise((resolve) => stream.once("close", resolve));
          return session;
        }),
      );
      await Promise.all(
        sessions.map((session) => new Promise((resolve) => session.once("close", resolve))),
      );
    });
  });

  it("a WebSocket session past the header deadline", async () => {
    const { key } = await target.keyOf();
    await target.underAttack(async () => {
      const socket = await connectWith(target, { authorization: `Bearer ${key}` });
      // Three times the header deadline (a second here): a session is not a slow request.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      socket.send({ requestId: "t", kind: { case: "task", value: { submit: { spec: echo } } } });
      const answer = await socket.next((frame) => frame.requestId === "t");
      expect(answer.kind.case).toBe("task");
      if (answer.kind.case === "task") target.acknowledged.add(answer.kind.value.task?.id ?? "");
      socket.ws.close();
      await socket.closed;
    });
  });

  it("a connection flood past the file limit, from many addresses", async () => {
    const flood = await target.underAttack(async () => {
      // Eight addresses of 256 each: more than the 819 connections a limit of 1,024 files
      // leaves room for. Those past the cap are refused as they come; the rest time out.
      const connections = await openMany(8 * 256, (i) =>
        openRaw(target.url, `127.0.1.${1 + (i % 8)}`, http2Preface),
      );
      await allClosed(connections);
      return connections;
    });
    expect(flood).toHaveLength(2_048);
    // The cap the server took from its file limit, as it said at start.
    expect(target.log()).toContain(
      `connections: at most ${Math.floor(targetFileLimit * 0.8)} (open-file limit ${targetFileLimit}), 256 from one address`,
    );
    // Once the flood is over, new callers are served again.
    const client = createAgentClient({ baseUrl: target.url.href });
    expect((await client.health.check({})).status).toBe(1);
  });
});
