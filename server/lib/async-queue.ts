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

  /**
   * take waits for the next value; undefined when the signal aborts first, or when idleMs
   * pass first (the signal tells the two apart). One timer per wait: an AbortSignal.timeout
   * joined to the signal with AbortSignal.any, per wait, was ~8% of a TaskService.Run's CPU.
   */
  async take(signal: AbortSignal, idleMs = Number.POSITIVE_INFINITY): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (signal.aborted) return undefined;
      const woken = await new Promise<boolean>((resolve) => {
        const idle = Number.isFinite(idleMs)
          ? setTimeout(() => done(false), idleMs).unref()
          : undefined;
        const aborted = () => done(false);
        const done = (woken: boolean) => {
          this.wake = undefined;
          clearTimeout(idle);
          signal.removeEventListener("abort", aborted);
          resolve(woken);
        };
        this.wake = () => done(true);
        signal.addEventListener("abort", aborted);
      });
      if (!woken) return undefined;
    }
    return this.items.shift();
  }
}
