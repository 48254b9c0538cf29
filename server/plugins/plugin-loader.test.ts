import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EchoResultSchema, EchoTaskSchema } from "../../gen/noizylab/agent/v1/echo_pb.js";
import { tempDir } from "../test-support.js";
import { checkDefinition, findPluginEntries } from "./plugin-loader.js";

const task = {
  type: "shout",
  description: "Shouts.",
  request: EchoTaskSchema,
  result: EchoResultSchema,
  run: () => ({}),
};
const plugin = { name: "loud", version: "1.0.0", tasks: [task] };

describe("checkDefinition", () => {
  it("accepts a plugin, and says what is wrong with one that is not", () => {
    expect(checkDefinition(plugin)).toBe(plugin);
    const cases: [unknown, string][] = [
      [undefined, "the module's default export is not a plugin definition object"],
      [
        { ...plugin, name: "Loud" },
        'name "Loud" must be lower case letters, digits, "-", "_" and "."',
      ],
      [{ ...plugin, version: "" }, "version is required"],
      [{ ...plugin, onLoad: "soon" }, "onLoad must be a function"],
      [{ ...plugin, tasks: [] }, "tasks must list one or more tasks"],
      [
        { ...plugin, tasks: [{ ...task, type: "Shout It" }] },
        'tasks[0].type "Shout It" must be kebab case, like "csv-parser"',
      ],
      [
        { ...plugin, tasks: [{ ...task, request: {} }] },
        "tasks[0].request must be a generated message schema (a DescMessage)",
      ],
      [{ ...plugin, tasks: [{ ...task, run: undefined }] }, "tasks[0].run must be a function"],
      [{ ...plugin, tasks: [task, task] }, "task type shout is declared twice"],
    ];
    for (const [definition, message] of cases) {
      expect(() => checkDefinition(definition)).toThrow(message);
    }
  });
});

describe("findPluginEntries", () => {
  it("finds module files and folders with an index, in order, and skips the rest", () => {
    const first = tempDir("cloudagent-plugins-");
    const second = tempDir("cloudagent-plugins-");
    writeFileSync(join(first, "b.mjs"), "");
    writeFileSync(join(first, "a.test.ts"), "");
    writeFileSync(join(first, "types.d.ts"), "");
    writeFileSync(join(first, "README.md"), "");
    mkdirSync(join(first, "folder"));
    writeFileSync(join(first, "folder", "index.ts"), "");
    mkdirSync(join(first, "empty"));
    writeFileSync(join(second, "c.js"), "");
    const entries = findPluginEntries([first, join(first, "missing"), second]);
    expect(entries).toEqual([
      { name: "b", path: join(first, "b.mjs") },
      { name: "folder", path: join(first, "folder", "index.ts") },
      { name: "c", path: join(second, "c.js") },
    ]);
  });
});
