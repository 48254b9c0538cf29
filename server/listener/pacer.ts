import { FairQueue } from "../lib/fair-queue.js";

/**
 * The pieces of work (requests, streams, handshakes, frames) run in a turn: at some 0.1 to
 * 1 ms each, a few milliseconds between reads of every connection. (Of 16 and 32, the attack
 * suite's floods held the canary's answers lower with 16.)
 */
export const workPerTurn = 16;

/**
 * Pacer shares the event loop's turns among connections. The work a connection brings (a
 * request, a stream, a WebSocket handshake or frame) runs at once while the turn has taken
 * little; past `perTurn` pieces in a turn it waits for a later turn, where waiting work runs
 * round robin across connections, `perTurn` pieces a turn (see FairQueue). A flood (a hundred
 * streams in one read, hundreds of handshakes at once) so waits its turns, and the requests of
 * others, read in between, are served in theirs, instead of behind it all.
 */
export class Pacer {
  private readonly waiting = new FairQueue<() => void>();
  private readonly names = new WeakMap<object, string>();
  private nextName = 0;
  private takenThisTurn = 0;
  private turnEnding = false;
  private draining = false;

  constructor(private readonly perTurn: number) {}

  /** run runs an owner's work now, or in a later turn, after the owner's earlier work. */
  run(owner: object, work: () => void): void {
    if (this.waiting.size === 0 && this.takenThisTurn < this.perTurn) {
      this.count();
      work();
      return;
    }
    this.waiting.push(this.nameOf(owner), work);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** count counts a piece of work in this turn; the count starts over at the turn's end. */
  private count(): void {
    this.takenThisTurn++;
    if (this.turnEnding) return;
    this.turnEnding = true;
    setImmediate(() => {
      this.takenThisTurn = 0;
      this.turnEnding = false;
    });
  }

  /** drain runs a turn's share of the waiting work, and leaves the rest to the next turn. */
  private drain(): void {
    try {
      for (let taken = 0; taken < this.perTurn; taken++) {
        const next = this.waiting.shift();
        if (next === undefined) break;
        next[1]();
      }
    } finally {
      if (this.waiting.size > 0) setImmediate(() => this.drain());
      else this.draining = false;
    }
  }

  private nameOf(owner: object): string {
    let name = this.names.get(owner);
    if (name === undefined) {
      name = String(this.nextName++);
      this.names.set(owner, name);
    }
    return name;
  }
}
