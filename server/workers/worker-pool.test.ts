import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { DelayTaskSchema } from "../../gen/noizylab/agent/v1/delay_pb.js";
import { EchoTaskSchema } from "../../gen/noizylab/agent/v1/echo_pb.js";
import { EncodeOperation, EncodeTaskSchema } from "../../gen/noizylab/agent/v1/encode_pb.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent, tempDir } from "../test-support.js";
import { createWorkerPool } from "./worker-pool.js";

const echoModule = pathToFileURL(resolve("gen/noizylab/agent/v1/echo_pb.ts")).href;
// A plugin whose task keeps its thread busy until it is stopped: heavy, as plugins are
// unless they say otherwise, so it runs on a worker thread.
const spinPlugin = `
import { EchoResultSchema, EchoTaskSchema } from ${JSON.stringify(echoModule)};
export default {
  name: "spin",
  version: "1.0.0",
  tasks: [{
    type: "spin",
    description: "Keeps a thread busy forever.",
    request: EchoTaskSchema,
    result: EchoResultSchema,
    run() {
      for (;;) {}
    },
  }],
};
`;
const spin = {
  case: "plugin" as const,
  value: { type: "spin", input: anyPack(EchoTaskSchema, create(EchoTaskSchema, { text: "" })) },
};

let server: TestAgent;
let admin: AgentClient;
const pluginDir = tempDir("cloudagent-spin-");
beforeAll(async () => {
  writeFileSync(join(pluginDir, "spin.mjs"), spinPlugin);
  server = await startTestAgent({ workerThreads: 2, pluginDir });
  admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
});
afterAll(async () => {
  await server.stop();
  rmSync(pluginDir, { recursive: true, force: true });
});

/** clientOfNewKey is a client with a key of its own, for tasks of their own key. */
async function clientOfNewKey(): Promise<AgentClient> {
  const scopes = [Scope.TASKS_SUBMIT, Scope.TASKS_READ];
  const { key } = await admin.keys.createKey({ name: "pool test", scopes });
  return createAgentClient({ baseUrl: server.url.href, apiKey: key });
}

/** finished reads a task's events to its last, and returns the task as it ended. */
async function finished(client: AgentClient, taskId: string) {
  for await (const _ of client.tasks.watchTask({ taskId })) {
    // Read to the end: the task's last event.
  }
  return (await client.tasks.getTask({ taskId })).task;
}

describe("the worker pool", () => {
  it("runs CPU-heavy tasks off the event loop, and a deadline stops one that never ends", async () => {
    const client = await clientOfNewKey();
    const { task } = await client.tasks.submit({ spec: { task: spin }, timeoutMs: 2_000 });
    // While a worker is stuck, the server answers, and the other worker validates.
    expect((await client.run({ case: "echo", value: { text: "still here" } })).text).toBe(
      "still here",
    );
    const quick = await admin.run({
      case: "jsonValidator",
      value: { schema: JSON.stringify({ type: "integer" }), document: "1.5" },
    });
    expect(quick.errors[0]?.keyword).toBe("type");
    const failed = await finished(client, task?.id ?? "");
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

  it("holds one key to its share of the threads: another key's task runs beside its backlog", async () => {
    // Two threads, one a key: the hog's later tasks wait for its first, not the other key.
    const hog = await clientOfNewKey();
    const other = await clientOfNewKey();
    const hogTasks = await Promise.all(
      [1, 2, 3].map(() => hog.tasks.submit({ spec: { task: spin }, timeoutMs: 60_000 })),
    );
    const result = await other.run({
      case: "jsonValidator",
      value: { schema: JSON.stringify({ type: "string" }), document: '"served"' },
    });
    expect(result.valid).toBe(true);
    for (const { task } of hogTasks) {
      await hog.tasks.cancelTask({ taskId: task?.id ?? "", reason: "done hogging" });
      expect((await finished(hog, task?.id ?? ""))?.state).toBe(TaskState.CANCELLED);
    }
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
    const pool = createWorkerPool({ size: 1, maxThreadsPerKey: 1 });
    try {
      const progress: number[] = [];
      const job = (field: string, input: Uint8Array) =>
        pool.run({
          taskId: "test-task",
          keyId: "",
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
