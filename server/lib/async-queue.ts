/**
 * AsyncQueue buffers values for one consumer that takes them one at a time, waiting when
 * there are none. With a bound, push refuses values once that many are waiting, so a
 * consumer that cannot keep up is noticed instead of growing memory without limit.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;

  constructor(private readonly bound = Number.POSITIVE_INFINITY) {}

  /** push adds a value; false (and the value dropped) when the queue is at its bound. */
  push(item: T): boolean {
    if (this.items.length >= this.bound) return false;
    this.items.push(item);
    this.wake?.();
    return true;
  }

  /** take waits for the next value; undefined when the signal aborts first. */
  async take(signal: AbortSignal): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wake = undefined;
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener("abort", done);
      });
    }
    return this.items.shift();
  }
}
