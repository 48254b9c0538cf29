import { gzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  CompressionAlgorithm,
  CompressOperation,
  CompressTaskSchema,
} from "../../gen/noizylab/agent/v1/compress_pb.js";
import { compressTask } from "./compress.js";
import { testContext } from "./task-testing.js";

type Init = Parameters<typeof create<typeof CompressTaskSchema>>[1];

function run(init: Init, maxOutputBytes?: number) {
  const input = create(CompressTaskSchema, init);
  compressTask.validate(input, "spec.compress");
  return compressTask.run(input, testContext(maxOutputBytes ? { maxOutputBytes } : {}).context);
}

const text = "The quick brown fox jumps over the lazy dog. ".repeat(200);

describe("compress task", () => {
  it.each([CompressionAlgorithm.GZIP, CompressionAlgorithm.DEFLATE, CompressionAlgorithm.BROTLI])(
    "compresses repetitive text with algorithm %s and restores it exactly",
    async (algorithm) => {
      const packed = await run({ input: { case: "text", value: text }, algorithm });
      expect(packed.inputBytes).toBe(BigInt(text.length));
      expect(packed.ratio).toBeLessThan(0.1);
      expect(packed.outputBytes).toBe(BigInt(packed.data.length));
      const unpacked = await run({
        input: { case: "data", value: packed.data },
        algorithm,
        operation: CompressOperation.DECOMPRESS,
      });
      expect(unpacked.text).toBe(text);
    },
  );

  it("writes gzip that other gzip readers accept, and honours the level", async () => {
    const fast = await run({ input: { case: "text", value: text }, level: 1 });
    const best = await run({ input: { case: "text", value: text }, level: 9 });
    expect([...fast.data.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(best.data.length).toBeLessThanOrEqual(fast.data.length);
  });

  it("stops a compression bomb at the output limit", async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    await expect(
      run(
        { input: { case: "data", value: bomb }, operation: CompressOperation.DECOMPRESS },
        1024 * 1024,
      ),
    ).rejects.toMatchObject({ code: Code.ResourceExhausted });
  });

  it("refuses data that is not in the format, and a level out of range", async () => {
    await expect(
      run({ input: { case: "text", value: "plain" }, operation: CompressOperation.DECOMPRESS }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("not valid gzip"),
    });
    expect(() => run({ algorithm: CompressionAlgorithm.DEFLATE, level: 10 })).toThrow(
      "spec.compress.level: must be between 0 and 9, got 10",
    );
  });
});
