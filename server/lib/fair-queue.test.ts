import { describe, expect, it } from "vitest";
import { FairQueue } from "./fair-queue.js";

const drain = <T>(queue: FairQueue<T>, mayServe?: (owner: string) => boolean) => {
  const taken: [string, T][] = [];
  for (let next = queue.shift(mayServe); next; next = queue.shift(mayServe)) taken.push(next);
  return taken;
};

describe("FairQueue", () => {
  it("serves owners in turn, each owner's items in order, whatever came first", () => {
    const queue = new FairQueue<number>();
    for (let i = 1; i <= 4; i++) queue.push("a", i);
    queue.push("c", 10);
    queue.push("b", 20);
    queue.push("b", 21);
    expect(queue.size).toBe(7);
    expect(drain(queue).map(([owner, item]) => `${owner}${item}`)).toEqual([
      "a1",
      "b20",
      "c10",
      "a2",
      "b21",
      "a3",
      "a4",
    ]);
    expect(queue.size).toBe(0);
  });

  it("starts after the owner served last, and goes on from there as owners come and go", () => {
    const queue = new FairQueue<string>("b");
    for (const owner of ["a", "b", "c"]) queue.push(owner, owner);
    expect(queue.shift()?.[0]).toBe("c");
    queue.push("c", "c again");
    expect(queue.shift()?.[0]).toBe("a");
    expect(queue.last).toBe("a");
    expect(drain(queue).map(([owner]) => owner)).toEqual(["b", "c"]);
  });

  it("passes over owners at their limit and keeps their items", () => {
    const queue = new FairQueue<number>();
    queue.push("busy", 1);
    queue.push("busy", 2);
    queue.push("idle", 3);
    expect(drain(queue, (owner) => owner !== "busy")).toEqual([["idle", 3]]);
    expect(queue.size).toBe(2);
    expect(queue.delete("busy", 1)).toBe(true);
    expect(queue.delete("busy", 1)).toBe(false);
    expect(drain(queue)).toEqual([["busy", 2]]);
  });
});
