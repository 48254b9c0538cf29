import { FairQueue } from "../lib/fair-queue.js";

/** ClaimShares say how a claim shares the free slots among the API keys with queued tasks. */
export interface ClaimShares {
  /** The most tasks of one key the claimer may run at once. */
  readonly maxRunningPerKey: number;
  /** The claimer's running tasks, by key. */
  readonly runningOfKey: ReadonlyMap<string, number>;
  /** The key whose task the claimer started last: turns go on from the key after it. */
  readonly lastServed?: string | undefined;
}

/**
 * claimTurns deals `limit` free slots among keys with queued tasks: one task of each key in
 * turn (see FairQueue), from the key after the one served last, no key past its running cap.
 * `queued` is each key's queued tasks (a count up to `limit` will do). It returns the keys
 * whose next task each slot starts, in the order they start.
 */
export function claimTurns(
  queued: ReadonlyMap<string, number>,
  limit: number,
  shares: ClaimShares,
): string[] {
  const turns = new FairQueue<number>(shares.lastServed);
  for (const [keyId, count] of queued) {
    const room = shares.maxRunningPerKey - (shares.runningOfKey.get(keyId) ?? 0);
    for (let turn = 0; turn < Math.min(count, room, limit); turn++) turns.push(keyId, turn);
  }
  const dealt: string[] = [];
  while (dealt.length < limit) {
    const next = turns.shift();
    if (next === undefined) break;
    dealt.push(next[0]);
  }
  return dealt;
}

/**
 * inTurnOrder lays out tasks claimed for each key (each key's in the order it queued them)
 * in the order of the turns that claimed them.
 */
export function inTurnOrder<T>(turns: readonly string[], byKey: ReadonlyMap<string, T[]>): T[] {
  const next = new Map<string, number>();
  const ordered: T[] = [];
  for (const keyId of turns) {
    const index = next.get(keyId) ?? 0;
    const task = byKey.get(keyId)?.[index];
    if (task === undefined) continue;
    next.set(keyId, index + 1);
    ordered.push(task);
  }
  return ordered;
}
