import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../../clients/node/client.js";
import { PluginState } from "../../../gen/noizylab/agent/v1/plugin_pb.js";
import { startTestAgent, type TestAgent } from "../../../server/test-support.js";
import { SlugifyResultSchema, SlugifyTaskSchema } from "./gen/example/slugify/v1/slugify_pb.js";

// The server loads the examples directory as its plugin directory, as an operator would.
const pluginDir = fileURLToPath(new URL("..", import.meta.url));

let server: TestAgent;
beforeAll(async () => {
  server = await startTestAgent({ pluginDir });
});
afterAll(() => server.stop());

const slugify = (input: Parameters<typeof create<typeof SlugifyTaskSchema>>[1]) => ({
  case: "plugin" as const,
  value: {
    type: "slugify",
    input: anyPack(SlugifyTaskSchema, create(SlugifyTaskSchema, input)),
  },
});

describe("the example plugin", () => {
  it("is loaded from the plugin directory and runs", async () => {
    const client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const { plugins } = await client.agent.listPlugins({});
    expect(plugins.find((p) => p.entry === "slugify")).toMatchObject({
      name: "slugify",
      version: "1.0.0",
      state: PluginState.LOADED,
      taskTypes: ["slugify"],
    });
    const result = await client.run(
      slugify({ titles: ["Crème Brûlée: a Recipe!", "  ", "Über 9000 ways"], maxLength: 14 }),
    );
    expect(result.output && anyUnpack(result.output, SlugifyResultSchema)?.slugs).toEqual([
      "creme-brulee-a",
      "",
      "uber-9000-ways",
    ]);
    const error = await client.run(slugify({ titles: [] })).catch(ConnectError.from);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe(
      "spec.plugin.input.titles: give 1 to 1,000 titles, got 0",
    );
  });
});
