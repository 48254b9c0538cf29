/**
 * AsyncQueue buffers values for one consumer that takes them one at a time, waiting when
 * there are none. With a bound, push refuses values once that many are waiting, so a
 * consumer that cannot keep up is noticed instead of growing memory without limit.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private waiting: Wait | undefined;

  constructor(private readonly bound = Number.POSITIVE_INFINITY) {}

  /** push adds a value; false (and the value dropped) when the queue is at its bound. */
  push(item: T): boolean {
    if (this.items.length >= this.bound) return false;
    this.items.push(item);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.end(true);
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
        this.waiting = new Wait(signal, idleMs, resolve);
      });
      this.waiting = undefined;
      if (!woken) return undefined;
    }
    return this.items.shift();
  }
}

/**
 * Wait is one take waiting for a value: a push ends it woken, the signal or the idle timer
 * without. It listens to the signal itself (handleEvent) and its timer calls a function made
 * once: closures made per wait, each named, cost a call apiece under tsx.
 */
class Wait {
  private readonly idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: AbortSignal,
    idleMs: number,
    private readonly settle: (woken: boolean) => void,
  ) {
    this.idle = Number.isFinite(idleMs) ? setTimeout(giveUp, idleMs, this).unref() : undefined;
    signal.addEventListener("abort", this);
  }

  /** handleEvent hears the signal abort. */
  handleEvent(): void {
    this.end(false);
  }

  end(woken: boolean): void {
    clearTimeout(this.idle);
    this.signal.removeEventListener("abort", this);
    this.settle(woken);
  }
}

const giveUp = (wait: Wait) => wait.end(false);
