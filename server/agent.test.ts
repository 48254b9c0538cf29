import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../clients/node/client.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { TaskState } from "../gen/noizylab/agent/v1/task_pb.js";
import { builtinTasks } from "./tasks/registry.js";
import { startTestAgent, type TestAgent } from "./test-support.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const buf = join(root, "node_modules", ".bin", "buf");

let server: TestAgent;
beforeAll(async () => {
  server = await startTestAgent({ maxMessageBytes: 64 * 1024 });
});
afterAll(() => server.stop());

/** A grpc-js client of TaskService and Health, from the .proto files alone. */
function grpcJsClients() {
  const definition = protoLoader.loadSync(
    ["noizylab/agent/v1/task_service.proto", "grpc/health/v1/health.proto"],
    {
      includeDirs: [join(root, "proto")],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    noizylab: { agent: { v1: { TaskService: grpc.ServiceClientConstructor } } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const address = server.url.host;
  const credentials = grpc.credentials.createInsecure();
  return {
    tasks: new loaded.noizylab.agent.v1.TaskService(address, credentials),
    health: new loaded.grpc.health.v1.Health(address, credentials),
  };
}

/** A TaskEvent as grpc-js decodes it with proto-loader (enums as strings). */
interface GrpcJsEvent {
  state: string;
  result?: { delay?: { steps: number } };
}

type Unary = (
  request: object,
  metadata: grpc.Metadata,
  callback: (error: grpc.ServiceError | null, response: Record<string, unknown>) => void,
) => void;

/** metadata carries the test server's key, as grpc-js callers send it. */
function metadata(): grpc.Metadata {
  const value = new grpc.Metadata();
  value.set("authorization", `Bearer ${server.apiKey}`);
  return value;
}

function unary(
  client: grpc.Client,
  method: string,
  request: object,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Unary>)[method]?.call(
      client,
      request,
      metadata(),
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
}

async function postJson(path: string, body: string, contentType = "application/json") {
  const response = await fetch(new URL(path, server.url), {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${server.apiKey}` },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("a real server on one port", () => {
  it("serves a grpc-js peer built from proto/: echo, a streamed delay and health", async () => {
    const { tasks, health } = grpcJsClients();
    const submitted = await unary(tasks, "Submit", { spec: { echo: { text: "from grpc-js" } } });
    // A pure task runs as it is submitted: the answer is the task finished.
    expect(submitted).toMatchObject({
      created: true,
      task: {
        type: "echo",
        state: "TASK_STATE_SUCCEEDED",
        result: { echo: { text: "from grpc-js" } },
      },
    });

    const stream = (
      tasks as unknown as {
        Run: (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<{ event: GrpcJsEvent }>;
      }
    ).Run(
      {
        spec: { delay: { duration_ms: 30, steps: 3 } },
      },
      metadata(),
    );
    const events: GrpcJsEvent[] = [];
    for await (const response of stream) events.push(response.event);
    expect(events.map((e) => e.state)).toEqual([
      "TASK_STATE_QUEUED",
      "TASK_STATE_RUNNING",
      "TASK_STATE_RUNNING",
      "TASK_STATE_RUNNING",
      "TASK_STATE_RUNNING",
      "TASK_STATE_SUCCEEDED",
    ]);
    expect(events.at(-1)?.result?.delay).toMatchObject({ steps: 3 });
    expect(await unary(health, "Check", { service: "" })).toEqual({ status: "SERVING" });
    const missing = unary(tasks, "GetTask", { task_id: "01a2b3c4-0000-7000-8000-000000000000" });
    await expect(missing).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    tasks.close();
    health.close();
  });

  it("serves Connect JSON over HTTP/1.1 to plain fetch", async () => {
    const submitted = await postJson(
      "/noizylab.agent.v1.TaskService/Submit",
      '{"spec":{"echo":{"text":"hi"}}}',
    );
    expect(submitted.status).toBe(200);
    const task = submitted.body.task as { id: string };
    const got = await postJson(
      "/noizylab.agent.v1.TaskService/GetTask",
      JSON.stringify({ taskId: task.id }),
    );
    expect(got.body.task).toMatchObject({ id: task.id, type: "echo" });
  });

  it("serves gRPC-Web over HTTP/1.1 and Connect over HTTP/2, binary and JSON", async () => {
    const clients = [
      createAgentClient({
        baseUrl: server.url.href,
        apiKey: server.apiKey,
        protocol: "grpc-web",
        httpVersion: "1.1",
      }),
      createAgentClient({
        baseUrl: server.url.href,
        apiKey: server.apiKey,
        protocol: "grpc-web",
        httpVersion: "1.1",
        useJson: true,
      }),
      createAgentClient({
        baseUrl: server.url.href,
        apiKey: server.apiKey,
        protocol: "connect",
        httpVersion: "2",
      }),
      createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey, protocol: "grpc" }),
    ];
    for (const client of clients) {
      const percents: number[] = [];
      const result = await client.run(
        { case: "delay", value: { durationMs: 20, steps: 2 } },
        { onProgress: (p) => percents.push(p.percent) },
      );
      expect(result.steps).toBe(2);
      expect(percents).toEqual([50, 100]);
      const hash = await client.run({
        case: "hash",
        value: { input: { case: "text", value: "abc" } },
      });
      expect(hash.digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
      expect((await client.health.check({})).status).toBe(ServingStatus.SERVING);
    }
  });

  it("rejects a failing task's run with the task's error code", async () => {
    const client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const decoding = client.run({
      case: "encode",
      value: { input: { case: "text", value: "%zz" }, encoding: 4, operation: 2 },
    });
    await expect(decoding).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(decoding).rejects.toBeInstanceOf(ConnectError);
  });

  it("answers malformed, unknown and oversized input with clear errors and keeps serving", async () => {
    const path = "/noizylab.agent.v1.TaskService/Submit";
    const good = '{"spec":{"echo":{"text":"still here"}}}';
    const cases = [
      ['{"spec":', "application/json", 400, "invalid_argument", "cannot decode"],
      [
        '{"spec":{"nope":{}}}',
        "application/json",
        400,
        "invalid_argument",
        'key "nope" is unknown',
      ],
      [
        '{"spec":{"delay":{"durationMs":"soon"}}}',
        "application/json",
        400,
        "invalid_argument",
        "duration_ms",
      ],
      ["\x0a\x05\xff\xff", "application/proto", 500, "internal", "parse binary"],
      [
        `{"spec":{"echo":{"text":"${"x".repeat(70_000)}"}}}`,
        "application/json",
        429,
        "resource_exhausted",
        "larger than configured",
      ],
    ] as const;
    for (const [body, contentType, status, code, message] of cases) {
      const answer = await postJson(path, body, contentType);
      expect(answer.status).toBe(status);
      expect(answer.body).toMatchObject({ code, message: expect.stringContaining(message) });
      expect((await postJson(path, good)).status).toBe(200);
    }
    const unknownMethod = await fetch(new URL("/noizylab.agent.v1.TaskService/Nope", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    expect(unknownMethod.status).toBe(404);
  });

  it("gives concurrent submits with one idempotency key over the wire a single task", async () => {
    const client = createAgentClient({
      baseUrl: server.url.href,
      apiKey: server.apiKey,
      protocol: "grpc",
    });
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, () =>
        client.tasks.submit({
          spec: { task: { case: "uuid", value: {} } },
          idempotencyKey: "wire-race",
        }),
      ),
    );
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.task?.id)).size).toBe(1);
  });

  it("resumes WatchTask after a dropped connection with no gap and no repeat", async () => {
    const client = createAgentClient({
      baseUrl: server.url.href,
      apiKey: server.apiKey,
      protocol: "grpc",
    });
    const { task } = await client.tasks.submit({
      spec: { task: { case: "delay", value: { durationMs: 200, steps: 8 } } },
    });
    const drop = new AbortController();
    const seen: bigint[] = [];
    try {
      for await (const { event } of client.tasks.watchTask(
        { taskId: task?.id ?? "" },
        { signal: drop.signal },
      )) {
        seen.push(event?.sequence ?? 0n);
        if (seen.length === 4) drop.abort();
      }
    } catch (error) {
      expect(ConnectError.from(error).code).toBe(Code.Canceled);
    }
    const other = createAgentClient({
      baseUrl: server.url.href,
      apiKey: server.apiKey,
      protocol: "connect",
      httpVersion: "1.1",
    });
    for await (const { event } of other.tasks.watchTask({
      taskId: task?.id ?? "",
      afterSequence: seen.at(-1) ?? 0n,
    })) {
      seen.push(event?.sequence ?? 0n);
    }
    expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => BigInt(i + 1)));
    expect((await other.tasks.getTask({ taskId: task?.id ?? "" })).task?.state).toBe(
      TaskState.SUCCEEDED,
    );
  });

  it("describes itself through reflection to buf curl, with no .proto files", async () => {
    const base = server.url.href.replace(/\/$/, "");
    // buf curl, keyed, learning the schema by reflection (which needs the key too).
    const bufCurl = (...args: string[]) =>
      run(buf, [
        "curl",
        "--header",
        `authorization: Bearer ${server.apiKey}`,
        "--reflect-header",
        "*",
        ...args,
      ]);
    const grpc = ["--http2-prior-knowledge", "--protocol", "grpc"];
    const listed = await bufCurl(...grpc, "--list-services", base);
    expect(listed.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "noizylab.agent.v1.AgentService",
      "noizylab.agent.v1.KeyService",
      "noizylab.agent.v1.TaskService",
    ]);
    const md5 = '{"spec":{"hash":{"text":"abc","algorithm":"HASH_ALGORITHM_MD5"}}}';
    const called = await bufCurl(
      ...grpc,
      "--data",
      md5,
      `${base}/noizylab.agent.v1.TaskService/Run`,
    );
    expect(called.stdout).toContain("900150983cd24fb0d6963f7d28e17f72");
    const capabilities = await bufCurl(
      "--protocol",
      "connect",
      `${base}/noizylab.agent.v1.AgentService/GetCapabilities`,
    );
    const { taskTypes } = JSON.parse(capabilities.stdout) as { taskTypes: { specField: string }[] };
    expect(taskTypes.filter((t) => t.specField !== "plugin")).toHaveLength(builtinTasks.length);
    // A plugin task's input is an Any: buf curl finds its type by reflection.
    const csv = JSON.stringify({
      spec: {
        plugin: {
          type: "csv-parser",
          input: {
            "@type": "type.googleapis.com/noizylab.plugins.v1.CsvParserTask",
            text: "a,b\n1,2",
          },
        },
      },
    });
    const parsed = await bufCurl(
      ...grpc,
      "--data",
      csv,
      `${base}/noizylab.agent.v1.TaskService/Run`,
    );
    expect(parsed.stdout).toContain(
      '"@type": "type.googleapis.com/noizylab.plugins.v1.CsvParserResult"',
    );
    expect(parsed.stdout).toMatch(/"numberValue": 1|"values": \[\s*1,/);
  });

  it("refuses buf curl's reflection without a key at once, in every protocol", async () => {
    const base = server.url.href.replace(/\/$/, "");
    // Reflection is a bidirectional stream the client keeps open until it has an answer: a
    // refusal that waited for the request's end would hang until the kill below.
    for (const protocol of ["grpc", "connect", "grpcweb"]) {
      const listed = run(
        buf,
        ["curl", "--http2-prior-knowledge", "--protocol", protocol, "--list-services", base],
        { timeout: 10_000 },
      );
      // buf reads an unauthenticated reflection as a registry login it lacks, and says so.
      await expect(listed, protocol).rejects.toMatchObject({
        killed: false,
        stderr: expect.stringContaining("you are not authenticated"),
      });
    }
  });
});
