import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.js";

describe("AsyncQueue", () => {
  it("hands values over in order, waiting for the next one when there is none", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    const signal = new AbortController().signal;
    expect(await queue.take(signal)).toBe(1);
    const next = queue.take(signal, 60_000);
    queue.push(2);
    queue.push(3);
    expect(await next).toBe(2);
    expect(await queue.take(signal, 60_000)).toBe(3);
  });

  it("gives up when the signal aborts, or when the wait lasts idleMs", async () => {
    const queue = new AsyncQueue<number>();
    const controller = new AbortController();
    const aborted = queue.take(controller.signal, 60_000);
    controller.abort();
    expect(await aborted).toBeUndefined();
    expect(await queue.take(controller.signal)).toBeUndefined();

    const signal = new AbortController().signal;
    const started = performance.now();
    expect(await queue.take(signal, 30)).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    // A value pushed after a wait gave up waits for the next take.
    queue.push(4);
    expect(await queue.take(signal, 30)).toBe(4);
  });

  it("refuses values beyond its bound", () => {
    const queue = new AsyncQueue<number>(1);
    expect(queue.push(1)).toBe(true);
    expect(queue.push(2)).toBe(false);
  });
});
