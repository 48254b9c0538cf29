// The attack suite, part two: one request, or one key, stalling everyone else
// (docs/security.md, the threat model). Each test is a row of that table, by name.
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { AgentClient } from "../../clients/node/client.js";
import { WatchEventsRequestSchema } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { type TaskEvent, TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import {
  DataValidatorResultSchema,
  DataValidatorTaskSchema,
  ValueType,
} from "../../gen/noizylab/plugins/v1/data_validator_pb.js";
import {
  ArrayStrategy,
  JsonMergerResultSchema,
  JsonMergerTaskSchema,
} from "../../gen/noizylab/plugins/v1/json_merger_pb.js";
import { floodStreams, type StreamFlood } from "./raw-clients.js";
import { startTarget, type Target } from "./target.js";

let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target.stopAndCheck());

/** lastEvent follows a task to its end and returns its last event: its result, or error. */
async function lastEvent(client: AgentClient, taskId: string) {
  let last: TaskEvent | undefined;
  for await (const { event } of client.tasks.watchTask({ taskId })) last = event;
  return last;
}

/** pluginOutput is the plugin result a task's last event carries, unpacked. */
function pluginOutput<Desc extends DescMessage>(event: TaskEvent | undefined, schema: Desc) {
  const result = event?.kind.case === "result" ? event.kind.value.result : undefined;
  return result?.case === "plugin" && result.value.output
    ? anyUnpack(result.value.output, schema)
    : undefined;
}

/** The body of a WatchEvents call of every task's events: one enveloped binary message. */
const watchEverything = (() => {
  const message = toBinary(
    WatchEventsRequestSchema,
    create(WatchEventsRequestSchema, { channels: [{ target: { case: "allTasks", value: {} } }] }),
  );
  const body = Buffer.alloc(5 + message.byteLength);
  body.writeUInt32BE(message.byteLength, 1);
  body.set(message, 5);
  return body;
})();

/** numbers is a JSON document {"a":[…]} of multiples of `step`, just under `bytes` long. */
function numbers(step: number, bytes: number): string {
  const items: number[] = [];
  let length = 8;
  for (let i = 0; length < bytes; i++) {
    items.push(i * step);
    length += String(i * step).length + 1;
  }
  items.pop();
  return JSON.stringify({ a: items });
}

/** refusedOf counts the streams of floods refused so far. */
const refusedOf = (floods: StreamFlood[]) =>
  floods.reduce((sum, flood) => sum + flood.answered(), 0);

describe("attacks that stall everyone else", () => {
  it("json-merger's union of two arrays at the 4 MiB message cap", async () => {
    const { client } = await target.keyOf();
    // Two arrays of some 300,000 numbers each, a third of them shared: 4 MiB in all.
    const documents = [numbers(2, 2_080_000), numbers(3, 2_080_000)];
    const input = create(JsonMergerTaskSchema, { documents, arrayStrategy: ArrayStrategy.UNION });
    const last = await target.underAttack(async () => {
      const { task } = await client.tasks.submit({
        spec: {
          task: {
            case: "plugin",
            value: { type: "json-merger", input: anyPack(JsonMergerTaskSchema, input) },
          },
        },
        timeoutMs: 60_000,
      });
      target.acknowledged.add(task?.id ?? "");
      return lastEvent(client, task?.id ?? "");
    });
    expect(last?.state).toBe(TaskState.SUCCEEDED);
    const result = pluginOutput(last, JsonMergerResultSchema);
    const merged = JSON.parse(result?.merged ?? "{}") as { a: number[] };
    const [evens, thirds] = documents.map((d) => (JSON.parse(d) as { a: number[] }).a);
    expect(merged.a).toHaveLength(new Set([...(evens ?? []), ...(thirds ?? [])]).size);
  });

  it("a pattern that backtracks catastrophically, from one key, on every worker thread", async () => {
    const hog = await target.keyOf();
    const other = await target.keyOf();
    // ^(a|a)*$ against 9,999 a's and a "!": on a backtracking engine, 2^9999 paths each.
    const records = JSON.stringify(
      Array.from({ length: 20 }, () => ({ s: `${"a".repeat(9_999)}!` })),
    );
    const input = create(DataValidatorTaskSchema, {
      data: records,
      rules: [{ field: "s", type: ValueType.STRING, pattern: "^(a|a)*$" }],
    });
    await target.underAttack(async () => {
      const hogs = await Promise.all(
        Array.from({ length: 4 }, () =>
          hog.client.tasks.submit({
            spec: {
              task: {
                case: "plugin",
                value: { type: "data-validator", input: anyPack(DataValidatorTaskSchema, input) },
              },
            },
          }),
        ),
      );
      for (const { task } of hogs) target.acknowledged.add(task?.id ?? "");
      // Another key's heavy task gets a thread of its own, beside the hog's.
      const checked = await other.client.run({
        case: "jsonValidator",
        value: { schema: '{"type":"string"}', document: '"fine"' },
      });
      expect(checked.valid).toBe(true);
      for (const { task } of hogs) {
        const last = await lastEvent(hog.client, task?.id ?? "");
        expect(last?.state).toBe(TaskState.SUCCEEDED);
        expect(pluginOutput(last, DataValidatorResultSchema)?.invalidRecords).toBe(20);
      }
    });
  });

  it("one key's 10,000 hour-long tasks, against every task slot", async () => {
    const hog = await target.keyOf();
    const other = await target.keyOf();
    const hourLong = { task: { case: "delay" as const, value: { durationMs: 3_600_000 } } };
    await target.underAttack(async () => {
      for (let batch = 0; batch < 10; batch++) {
        const { results } = await hog.client.tasks.submitBatch({
          requests: Array.from({ length: 1_000 }, () => ({ spec: hourLong })),
        });
        for (const { outcome } of results) {
          if (outcome.case === "submitted") target.acknowledged.add(outcome.value.task?.id ?? "");
        }
      }
      // Another key's pure task answers at its submit, and one that needs a slot runs at once.
      const { task: hashed } = await other.client.tasks.submit({
        spec: { task: { case: "hash", value: { input: { case: "text", value: "x" } } } },
      });
      expect(hashed?.state).toBe(TaskState.SUCCEEDED);
      const slept = await other.client.run({ case: "delay", value: { durationMs: 1 } });
      expect(slept.$typeName).toBe("noizylab.agent.v1.DelayResult");
    });
    expect(target.acknowledged.size).toBeGreaterThanOrEqual(10_000);
    // The hog runs a quarter of the 16 slots; the rest of its backlog waits its turn.
    const { tasks: running } = await target.admin.tasks.listTasks({
      states: [TaskState.RUNNING],
      pageSize: 100,
    });
    expect(running.filter((task) => task.keyId === hog.keyId)).toHaveLength(4);
  });

  it("2,000 task frames over one session from a key limited to a request a second", async () => {
    const { key, keyId } = await target.keyOf({ rateLimit: { perSecond: 1, burst: 5 } });
    const sent = await target.underAttack(async () => {
      const socket = new WebSocket(new URL("/ws", target.url.href.replace("http", "ws")), {
        headers: { authorization: `Bearer ${key}` },
      });
      const byRequest = new Map<string, { task?: string; error?: string }>();
      socket.on("message", (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as {
          requestId?: string;
          task?: { task?: { id: string } };
          error?: { code: string };
        };
        if (frame.requestId && frame.task)
          byRequest.set(frame.requestId, { task: frame.task.task?.id ?? "" });
        if (frame.requestId && frame.error)
          byRequest.set(frame.requestId, { error: frame.error.code });
      });
      await new Promise((resolve) => socket.once("open", resolve));
      const task = JSON.stringify({ submit: { spec: { echo: { text: "flood" } } } });
      const sent = performance.now();
      for (let i = 0; i < 2_000; i++) socket.send(`{"requestId":"${i}","task":${task}}`);
      while (byRequest.size < 2_000) await new Promise((resolve) => setTimeout(resolve, 50));
      socket.close();
      return { answers: [...byRequest.values()], seconds: (performance.now() - sent) / 1000 };
    });
    const { answers, seconds } = sent;
    const accepted = answers.filter((answer) => answer.task !== undefined);
    for (const { task } of accepted) target.acknowledged.add(task ?? "");
    // The burst (5, less the token the session's upgrade spent), and what the bucket refilled
    // (1 a second) while the frames were taken; every other frame refused as its RPC.
    expect(accepted.length).toBeGreaterThanOrEqual(4);
    expect(accepted.length).toBeLessThanOrEqual(5 + Math.ceil(seconds));
    expect(new Set(answers.filter((a) => a.error).map((a) => a.error))).toEqual(
      new Set(["resource_exhausted"]),
    );
    // And each frame left its audit event, as a call does.
    await expect
      .poll(async () => {
        let count = 0;
        let pageToken = "";
        do {
          const page = await target.admin.agent.listAuditEvents({
            keyId,
            pageSize: 1_000,
            pageToken,
          });
          count += page.events.filter((e) => e.procedure.endsWith("/Submit")).length;
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
        return count;
      })
      .toBe(2_000);
  });

  it("3,000 WatchEvents streams from one key", async () => {
    // Its rate limit lifted: what holds it is its cap on open streams (100).
    const rateLimit = { perSecond: 1_000_000, burst: 1_000_000 };
    const { key } = await target.keyOf({ rateLimit });
    // Six connections of 500 streams each (WatchEvents in Connect, binary), each
    // connection's sent in one write.
    const watch = {
      path: "/noizylab.agent.v1.AgentService/WatchEvents",
      headers: {
        "content-type": "application/connect+proto",
        "connect-protocol-version": "1",
        authorization: `Bearer ${key}`,
      },
      body: watchEverything,
      count: 500,
    };
    const floods = await target.underAttack(async () => {
      const floods = Array.from({ length: 6 }, () =>
        floodStreams(target.url, watch, "resource_exhausted"),
      );
      // The streams past the cap are refused at once; the others stay open for the window.
      while (refusedOf(floods) < 2_900) await new Promise((resolve) => setTimeout(resolve, 50));
      return floods;
    });
    expect(refusedOf(floods)).toBe(2_900);
    for (const flood of floods) flood.socket.destroy();
  });

  it("200 WebSocket sessions from one key", async () => {
    // Its rate limit lifted: what holds it is its cap on sessions (50).
    const rateLimit = { perSecond: 1_000_000, burst: 1_000_000 };
    const { key } = await target.keyOf({ rateLimit });
    const url = new URL("/ws", target.url.href.replace("http", "ws"));
    const sockets: WebSocket[] = [];
    const statuses = await target.underAttack(() =>
      Promise.all(
        Array.from(
          { length: 200 },
          () =>
            new Promise<number>((resolve) => {
              const socket = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
              sockets.push(socket);
              socket.once("open", () => resolve(101));
              socket.once("unexpected-response", (_request, response) => {
                resolve(response.statusCode ?? 0);
                response.resume();
              });
              socket.once("error", () => {});
            }),
        ),
      ),
    );
    for (const socket of sockets) socket.close();
    const count = (status: number) => statuses.filter((each) => each === status).length;
    expect(count(101)).toBe(50);
    expect(count(429)).toBe(150);
  });
});
