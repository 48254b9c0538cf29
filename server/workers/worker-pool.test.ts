import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { DelayTaskSchema } from "../../gen/noizylab/agent/v1/delay_pb.js";
import { EncodeOperation, EncodeTaskSchema } from "../../gen/noizylab/agent/v1/encode_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent } from "../test-support.js";
import { createWorkerPool } from "./worker-pool.js";

let server: TestAgent;
beforeAll(async () => {
  server = await startTestAgent({ workerThreads: 2 });
});
afterAll(() => server.stop());

// A pattern that backtracks exponentially on a run of "a" that does not end the string.
const catastrophic = JSON.stringify({ type: "string", pattern: "^(a+)+$" });
const victim = JSON.stringify(`${"a".repeat(40)}!`);

describe("the worker pool", () => {
  it("runs CPU-heavy tasks off the event loop, and a deadline stops one stuck in a catastrophic regex", async () => {
    const client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const { task } = await client.tasks.submit({
      spec: { task: { case: "jsonValidator", value: { schema: catastrophic, document: victim } } },
      timeoutMs: 3_000,
    });
    // While a worker is stuck, the server answers, and the other worker validates.
    expect((await client.run({ case: "echo", value: { text: "still here" } })).text).toBe(
      "still here",
    );
    const quick = await client.run({
      case: "jsonValidator",
      value: { schema: JSON.stringify({ type: "integer" }), document: "1.5" },
    });
    expect(quick.errors[0]?.keyword).toBe("type");
    const { task: stuck } = await client.tasks.getTask({ taskId: task?.id ?? "" });
    expect(stuck?.state).toBe(TaskState.RUNNING);

    for await (const _ of client.tasks.watchTask({ taskId: task?.id ?? "" })) {
      // Read to the end: the task's last event.
    }
    const { task: failed } = await client.tasks.getTask({ taskId: task?.id ?? "" });
    expect(failed?.state).toBe(TaskState.FAILED);
    expect(failed?.error?.code).toBe("deadline_exceeded");

    // The stuck worker was replaced: both workers serve again.
    const again = await Promise.all(
      [1, 2, 3].map(() =>
        client.run({
          case: "jsonValidator",
          value: { schema: JSON.stringify({ type: "string" }), document: '"ok"' },
        }),
      ),
    );
    expect(again.every((result) => result.valid)).toBe(true);
    const analysis = await client.run({
      case: "textAnalysis",
      value: { text: "Workers keep the server answering. Workers run the heavy tasks." },
    });
    expect(analysis.language?.code).toBe("eng");
    expect(analysis.keyPhrases[0]?.phrase).toBe("workers");
  });

  it("refuses malformed base64 image bytes at the door of the RPC, naming the field", async () => {
    const response = await fetch(`${server.url.href}noizylab.agent.v1.TaskService/Submit`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server.apiKey}` },
      body: JSON.stringify({ spec: { imageMetadata: { data: "not*base64!" } } }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("data");
  });

  it("passes a handler's error back with its code, and progress as it comes", async () => {
    const pool = createWorkerPool(1);
    try {
      const progress: number[] = [];
      const job = (field: string, input: Uint8Array) =>
        pool.run({
          taskId: "test-task",
          field,
          input,
          maxOutputBytes: 1 << 20,
          signal: new AbortController().signal,
          progress: (percent) => progress.push(percent),
        });
      const bad = create(EncodeTaskSchema, {
        input: { case: "text", value: "not base64!" },
        operation: EncodeOperation.DECODE,
      });
      const error = await job("encode", toBinary(EncodeTaskSchema, bad)).catch(ConnectError.from);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).rawMessage).toMatch(/base64/);
      const delay = create(DelayTaskSchema, { durationMs: 30, steps: 3 });
      await job("delay", toBinary(DelayTaskSchema, delay));
      expect(progress.length).toBe(3);
      expect(progress.at(-1)).toBe(100);
    } finally {
      await pool.close();
    }
  });
});
