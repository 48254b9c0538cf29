import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RandomKind, RandomTaskSchema } from "../../gen/noizylab/agent/v1/random_pb.js";
import { randomTask } from "./random.js";
import { testContext } from "./task-testing.js";

type Init = Parameters<typeof create<typeof RandomTaskSchema>>[1];

function run(init: Init) {
  const input = create(RandomTaskSchema, init);
  randomTask.validate(input, "spec.random");
  return randomTask.run(input, testContext().context);
}

describe("random task", () => {
  it("draws the requested number of bytes, 16 by default", async () => {
    expect((await run({})).data).toHaveLength(16);
    const big = await run({ kind: RandomKind.BYTES, count: 65_536 });
    expect(big.data).toHaveLength(65_536);
    // 64 KiB of secure random bytes uses (nearly) every byte value.
    expect(new Set(big.data).size).toBeGreaterThan(250);
  });

  it("draws integers within the inclusive range, reaching both ends", async () => {
    const result = await run({ kind: RandomKind.INTEGERS, count: 2_000, min: -3n, max: 3n });
    expect(result.integers).toHaveLength(2_000);
    expect(new Set(result.integers)).toEqual(new Set([-3n, -2n, -1n, 0n, 1n, 2n, 3n]));
  });

  it("draws strings from the alphabet, by code point", async () => {
    const result = await run({ kind: RandomKind.STRINGS, count: 50, length: 12, alphabet: "ab🙂" });
    expect(result.strings).toHaveLength(50);
    for (const text of result.strings) {
      expect(Array.from(text)).toHaveLength(12);
      expect(text).toMatch(/^[ab🙂]+$/u);
    }
  });

  it.each([
    [{ kind: RandomKind.INTEGERS, min: 5n, max: 1n }, "spec.random.max: must be at least min"],
    [{ kind: RandomKind.INTEGERS, min: 0n, max: 2n ** 48n }, "max - min must be below 2^48"],
    [{ kind: RandomKind.STRINGS, alphabet: "aa" }, "distinct characters"],
    [{ kind: RandomKind.BYTES, count: 65_537 }, "spec.random.count"],
    [
      { kind: RandomKind.STRINGS, count: 10_000, length: 10_000 },
      "spec.random.count: count × length is at most 1,000,000 characters, got 100,000,000",
    ],
  ] as const)("refuses %o", (init, message) => {
    expect(() => run(init)).toThrow(message);
  });
});
