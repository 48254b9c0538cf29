import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  ArrayStrategy,
  JsonMergerTaskSchema,
} from "../../gen/noizylab/plugins/v1/json_merger_pb.js";
import { testContext } from "../../server/tasks/task-testing.js";
import { jsonMergerTask as task } from "./index.js";

async function mergeTexts(documents: string[], arrayStrategy = ArrayStrategy.UNSPECIFIED) {
  const input = create(JsonMergerTaskSchema, { documents, arrayStrategy });
  task.validate?.(input, "input");
  const result = await task.run(input, testContext().context);
  return { ...result, merged: JSON.parse(String(result?.merged)) };
}

describe("json-merger", () => {
  it("merges deeply, later documents winning, and reports values replaced by another kind", async () => {
    const result = await mergeTexts([
      '{"server":{"port":80,"tls":{"on":false}},"tags":["a"],"name":"x"}',
      '{"server":{"tls":{"on":true,"cert":"c.pem"}},"tags":["b"],"name":{"first":"y"}}',
    ]);
    expect(result.merged).toEqual({
      server: { port: 80, tls: { on: true, cert: "c.pem" } },
      tags: ["b"],
      name: { first: "y" },
    });
    expect(result.replaced).toEqual(["/name"]);
  });

  it("merges arrays by each strategy", async () => {
    const docs = ['{"a":[1,{"k":1},3]}', '{"a":[{"k":1},{"j":2}]}'];
    expect((await mergeTexts(docs, ArrayStrategy.REPLACE)).merged.a).toEqual([{ k: 1 }, { j: 2 }]);
    expect((await mergeTexts(docs, ArrayStrategy.CONCAT)).merged.a).toEqual([
      1,
      { k: 1 },
      3,
      { k: 1 },
      { j: 2 },
    ]);
    expect((await mergeTexts(docs, ArrayStrategy.UNION)).merged.a).toEqual([
      1,
      { k: 1 },
      3,
      { j: 2 },
    ]);
    expect((await mergeTexts(docs, ArrayStrategy.BY_INDEX)).merged.a).toEqual([
      { k: 1 },
      { k: 1, j: 2 },
      3,
    ]);
  });

  it("unites arrays by value, whatever their keys' order, in time linear in their length", async () => {
    const unordered = await mergeTexts(
      ['{"a":[{"x":1,"y":[2,{"z":3}]},"1",1,null]}', '{"a":[{"y":[2,{"z":3}],"x":1},1,"1",true]}'],
      ArrayStrategy.UNION,
    );
    expect(unordered.merged.a).toEqual([{ x: 1, y: [2, { z: 3 }] }, "1", 1, null, true]);
    // Two arrays of 200,000 numbers that half overlap: comparing each item with every other
    // would take some 10^10 comparisons; by hash it takes a moment.
    const evens = Array.from({ length: 200_000 }, (_, i) => i * 2);
    const thirds = Array.from({ length: 200_000 }, (_, i) => i * 3);
    const { merged } = await mergeTexts(
      [JSON.stringify({ a: evens }), JSON.stringify({ a: thirds })],
      ArrayStrategy.UNION,
    );
    const expected = new Set([...evens, ...thirds]);
    expect(merged.a).toHaveLength(expected.size);
    expect(new Set(merged.a)).toEqual(expected);
  });

  it("never lets __proto__, constructor or prototype pollute anything, at any depth", async () => {
    const result = await mergeTexts([
      '{"a":{}}',
      '{"__proto__":{"polluted":1},"a":{"constructor":{"prototype":{"polluted":2}}}}',
      '{"list":[{"__proto__":{"polluted":3}}],"prototype":{"x":1}}',
    ]);
    expect(result.droppedKeys).toEqual([
      "/1/__proto__",
      "/1/a/constructor",
      "/2/list/0/__proto__",
      "/2/prototype",
    ]);
    expect(result.merged).toEqual({ a: {}, list: [{}] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("names a document that is not JSON, and wants at least two", () => {
    expect(() =>
      task.validate?.(create(JsonMergerTaskSchema, { documents: ["{}", "{nope"] }), "input"),
    ).toThrow(/^\[invalid_argument\] input\.documents\[1\]: is not JSON/);
    expect(() =>
      task.validate?.(create(JsonMergerTaskSchema, { documents: ["{}"] }), "input"),
    ).toThrow("input.documents: give 2 to 100 documents, got 1");
  });
});
