import { describe, expect, it } from "vitest";
import { rowBuilder, valuesReader } from "./compiled-rows.js";

interface Row {
  id: string;
  n: number | null;
  blob: Uint8Array;
}

describe("compiled rows", () => {
  const columns = ["id", "n", "blob"] as const;

  it("builds a row from its values and lists them back, in column order", () => {
    const blob = new Uint8Array([1, 2]);
    const row = rowBuilder<Row>([...columns])(["a", null, blob]);
    expect(row).toEqual({ id: "a", n: null, blob });
    expect(Object.keys(row)).toEqual(columns);
    expect(valuesReader<Row, (typeof columns)[number]>(columns)(row)).toEqual(["a", null, blob]);
  });

  it("refuses what is not a column name, since it becomes code", () => {
    expect(() => rowBuilder<Record<string, unknown>>(["id", "x: 1 }; evil({"])).toThrow(
      "not a column name",
    );
    expect(() => valuesReader<Record<string, unknown>, string>(["a-b"])).toThrow(
      "not a column name",
    );
  });
});
