import { describe, expect, it } from "vitest";
import { groupCommit } from "./group-commit.js";

describe("groupCommit", () => {
  it("commits the calls of one turn together, and a bad call alone fails", async () => {
    const batches: number[][] = [];
    const commit = groupCommit(
      (inputs: number[]) => {
        batches.push(inputs);
        if (inputs.includes(-1)) throw new Error("a bad row fails the transaction");
        return inputs.map((n) => n * 2);
      },
      (input: number) => {
        if (input < 0) throw new Error(`bad row ${input}`);
        return input * 2;
      },
    );
    expect(await Promise.all([commit(1), commit(2), commit(3)])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
    const results = await Promise.allSettled([commit(4), commit(-1), commit(5)]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason)))).toEqual([
      8,
      "Error: bad row -1",
      10,
    ]);
    expect(await commit(6)).toBe(12);
    expect(batches.at(-1)).toEqual([6]);
  });
});
