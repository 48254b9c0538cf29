import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create, fromBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { EchoResultSchema, EchoTaskSchema } from "../../gen/noizylab/agent/v1/echo_pb.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { PluginState } from "../../gen/noizylab/agent/v1/plugin_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent, tempDir } from "../test-support.js";

const echoModule = pathToFileURL(resolve("gen/noizylab/agent/v1/echo_pb.ts")).href;

/**
 * fixture is the source of a plugin with one task, "shout", taking an EchoTask: its hooks
 * log to globalThis.hookLog, and the given extra members are spliced into the definition.
 */
const fixture = (name: string, version: string, extra = "") => `
import { EchoResultSchema, EchoTaskSchema } from ${JSON.stringify(echoModule)};
const log = (globalThis.hookLog ??= []);
export default {
  name: ${JSON.stringify(name)},
  version: ${JSON.stringify(version)},
  tasks: [{
    type: "${name}-shout",
    description: "Shouts the text.",
    request: EchoTaskSchema,
    result: EchoResultSchema,
    // The first version says it runs on the event loop; the second is heavy, as plugins are
    // unless they say otherwise, so a worker thread imports this module's new generation.
    ${version === "2.0.0" ? "" : 'cost: "constant",'}
    validate(input, path) {
      if (input.text === "") throw new Error("validate of " + path + " broke");
    },
    run: (input) => ({ text: input.text.toUpperCase() + "${version === "2.0.0" ? "!!" : "!"}" }),
  }],
  beforeTask(task) {
    log.push("before " + task.type);
    if (task.input.text === "veto") throw new Error("no vetoes here");
  },
  afterTask(task) {
    log.push("after " + task.result.text);
    if (task.result.text === "BAD AFTER!") throw new Error("afterTask tripped");
  },
  onError(task) {
    log.push("error " + task.error.rawMessage);
  },
  ${extra}
};
`;

const hookLog = () => (globalThis as { hookLog?: string[] }).hookLog ?? [];

function shout(type: string, text: string) {
  return {
    case: "plugin" as const,
    value: { type, input: anyPack(EchoTaskSchema, create(EchoTaskSchema, { text })) },
  };
}

let server: TestAgent;
let client: AgentClient;
let pluginDir: string;

beforeAll(async () => {
  pluginDir = tempDir("cloudagent-plugins-");
  writeFileSync(join(pluginDir, "loud.mjs"), fixture("loud", "1.0.0"));
  writeFileSync(
    join(pluginDir, "broken.mjs"),
    fixture("broken", "1.0.0", `onLoad() { throw new Error("boom at load"); },`),
  );
  writeFileSync(join(pluginDir, "not-a-plugin.mjs"), "export default { name: 'Bad Name' };");
  writeFileSync(join(pluginDir, "throws-on-import.mjs"), "throw new Error('cannot even import');");
  writeFileSync(join(pluginDir, "notes.txt"), "not a module");
  server = await startTestAgent({ pluginDir });
  client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
});
afterAll(() => server.stop());

describe("plugins", () => {
  it("loads the bundled plugins and the plugin directory's, and reports the ones that failed", async () => {
    const { plugins } = await client.agent.listPlugins({});
    const byEntry = new Map(plugins.map((p) => [p.entry, p]));
    for (const name of [
      "csv-parser",
      "json-merger",
      "data-validator",
      "text-summarizer",
      "keyword-extractor",
      "sentiment-scorer",
      "loud",
    ]) {
      expect(byEntry.get(name)?.state, name).toBe(PluginState.LOADED);
    }
    expect(byEntry.get("broken")).toMatchObject({
      state: PluginState.FAILED,
      error: "onLoad threw: boom at load",
    });
    expect(byEntry.get("not-a-plugin")?.error).toMatch(/name "Bad Name" must be lower case/);
    expect(byEntry.get("throws-on-import")?.error).toBe("cannot even import");
    expect(byEntry.has("notes")).toBe(false);

    const { taskTypes } = await client.agent.getCapabilities({});
    expect(taskTypes.find((t) => t.name === "loud-shout")).toMatchObject({
      specField: "plugin",
      plugin: "loud",
      requestMessage: "noizylab.agent.v1.EchoTask",
      resultMessage: "noizylab.agent.v1.EchoResult",
    });
    expect(taskTypes.find((t) => t.name === "csv-parser")?.plugin).toBe("csv-parser");
    expect(taskTypes.some((t) => t.name === "broken-shout")).toBe(false);
  });

  it("runs a plugin task with its hooks, and refuses a type no loaded plugin provides", async () => {
    const result = await client.run(shout("loud-shout", "hello"));
    expect(result.type).toBe("loud-shout");
    expect(result.output && anyUnpack(result.output, EchoResultSchema)?.text).toBe("HELLO!");
    expect(hookLog()).toContain("after HELLO!");

    const error = await client.run(shout("broken-shout", "hi")).catch(ConnectError.from);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toMatch(
      /^spec\.plugin\.type: no loaded plugin provides "broken-shout" tasks; plugin task types here: .*loud-shout/,
    );
    const wrongType = await client
      .run({
        case: "plugin",
        value: { type: "loud-shout", input: anyPack(EchoResultSchema, create(EchoResultSchema)) },
      })
      .catch(ConnectError.from);
    expect((wrongType as ConnectError).rawMessage).toBe(
      "spec.plugin.input: holds type.googleapis.com/noizylab.agent.v1.EchoResult; loud-shout takes type.googleapis.com/noizylab.agent.v1.EchoTask",
    );
    const badInput = await client.run(shout("loud-shout", "")).catch(ConnectError.from);
    expect((badInput as ConnectError).code).toBe(Code.Internal);
    expect((badInput as ConnectError).rawMessage).toBe(
      "plugin loud: validate threw: validate of spec.plugin.input broke",
    );
  });

  it("contains hooks that throw: beforeTask fails its task, afterTask is only reported", async () => {
    const { task } = await client.tasks.submit({ spec: { task: shout("loud-shout", "veto") } });
    const vetoed = await waitForEnd(task?.id ?? "");
    expect(vetoed?.state).toBe(TaskState.FAILED);
    expect(vetoed?.error?.message).toBe("plugin loud: beforeTask threw: no vetoes here");

    const result = await client.run(shout("loud-shout", "bad after"));
    expect(result.output && anyUnpack(result.output, EchoResultSchema)?.text).toBe("BAD AFTER!");
    const { plugins } = await client.agent.listPlugins({});
    const loud = plugins.find((p) => p.name === "loud");
    expect(loud?.hookFailures).toBe(2);
    expect(loud?.error).toBe("afterTask threw: afterTask tripped");
    // The server goes on.
    expect((await client.run({ case: "echo", value: { text: "fine" } })).text).toBe("fine");
  });

  it("takes plugin inputs and gives results as JSON with @type, over Connect JSON", async () => {
    const post = async (method: string, body: unknown) => {
      const response = await fetch(`${server.url.href}noizylab.agent.v1.TaskService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${server.apiKey}` },
        body: JSON.stringify(body),
      });
      return (await response.json()) as {
        task: { id: string; type: string; result?: { plugin?: unknown } };
      };
    };
    const submitted = await post("Submit", {
      spec: {
        plugin: {
          type: "json-merger",
          input: {
            "@type": "type.googleapis.com/noizylab.plugins.v1.JsonMergerTask",
            documents: ['{"a":{"b":1}}', '{"a":{"c":2},"__proto__":{"polluted":true}}'],
          },
        },
      },
    });
    expect(submitted.task.type).toBe("json-merger");
    const done = await waitForEnd(submitted.task.id);
    expect(done?.state).toBe(TaskState.SUCCEEDED);
    const fetched = await post("GetTask", { taskId: submitted.task.id });
    expect(fetched.task.result?.plugin).toEqual({
      type: "json-merger",
      output: {
        "@type": "type.googleapis.com/noizylab.plugins.v1.JsonMergerResult",
        merged: '{"a":{"b":1,"c":2}}',
        droppedKeys: ["/1/__proto__"],
      },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("describes plugin messages by reflection", async () => {
    const reflection = createClient(
      ServerReflection,
      createConnectTransport({
        baseUrl: server.url.href,
        httpVersion: "2",
        interceptors: [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${server.apiKey}`);
            return next(request);
          },
        ],
      }),
    );
    async function* ask() {
      yield {
        messageRequest: {
          case: "fileContainingSymbol" as const,
          value: "noizylab.plugins.v1.CsvParserTask",
        },
      };
    }
    const names: string[] = [];
    for await (const answer of reflection.serverReflectionInfo(ask())) {
      if (answer.messageResponse.case === "fileDescriptorResponse") {
        for (const bytes of answer.messageResponse.value.fileDescriptorProto) {
          names.push(fromBinary(FileDescriptorProtoSchema, bytes).name);
        }
      }
    }
    expect(names).toContain("noizylab/plugins/v1/csv_parser.proto");
  });

  it("lets an admin unload and load plugins while the server runs, and nobody else", async () => {
    const unloaded = await client.agent.unloadPlugin({ name: "loud" });
    expect(unloaded.plugin?.state).toBe(PluginState.UNLOADED);
    const refused = await client.run(shout("loud-shout", "x")).catch(ConnectError.from);
    expect((refused as ConnectError).code).toBe(Code.InvalidArgument);

    // A new version of the file is imported anew.
    writeFileSync(join(pluginDir, "loud.mjs"), fixture("loud", "2.0.0"));
    const loaded = await client.agent.loadPlugin({ entry: "loud" });
    expect(loaded.plugin).toMatchObject({ state: PluginState.LOADED, version: "2.0.0" });
    const result = await client.run(shout("loud-shout", "again"));
    expect(result.output && anyUnpack(result.output, EchoResultSchema)?.text).toBe("AGAIN!!");

    const failed = await client.agent.loadPlugin({ entry: "broken" }).catch(ConnectError.from);
    expect((failed as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((failed as ConnectError).rawMessage).toBe(
      "plugin broken failed to load: onLoad threw: boom at load",
    );
    const missing = await client.agent.loadPlugin({ entry: "nope" }).catch(ConnectError.from);
    expect((missing as ConnectError).code).toBe(Code.NotFound);

    const { key } = await client.keys.createKey({
      name: "worker",
      scopes: [Scope.TASKS_SUBMIT, Scope.TASKS_READ],
    });
    const worker = createAgentClient({ baseUrl: server.url.href, apiKey: key });
    const denied = await worker.agent.unloadPlugin({ name: "csv-parser" }).catch(ConnectError.from);
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
  });
});

async function waitForEnd(taskId: string) {
  for await (const _ of client.tasks.watchTask({ taskId })) {
    // Read to the end: the task's last event.
  }
  return (await client.tasks.getTask({ taskId })).task;
}
