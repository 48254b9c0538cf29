import { describe, expect, it } from "vitest";
import { uuidV7 } from "./uuid-v7.js";

describe("uuidV7", () => {
  it("makes distinct version 7 ids that strictly increase, even many in a millisecond", () => {
    const ids = Array.from({ length: 10_000 }, () => uuidV7());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] as string))).toBe(true);
    // The random part comes from a pool drawn 4 KiB at a time: it must not repeat between draws.
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length);
  });
});
