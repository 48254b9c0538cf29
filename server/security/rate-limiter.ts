import type { MaybePromise } from "../lib/maybe-promise.js";

/** RateLimit is a token bucket's size: a steady rate and the burst it may save up. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** RateLimiter hands out tokens per key from buckets that refill over time. */
export interface RateLimiter {
  /**
   * take spends a token of the key's bucket: 0 when there was one, else the ms until there is.
   * A limiter in memory answers at once; one in a shared database, with a promise.
   */
  take(key: string, limit: RateLimit): MaybePromise<number>;
}

interface Bucket {
  tokens: number;
  updated: number;
  limit: RateLimit;
}

/**
 * createRateLimiter keeps the buckets in memory, dropping those that have refilled: for a
 * store only one instance uses.
 */
export function createRateLimiter(now: () => number = () => performance.now()): RateLimiter {
  const buckets = new Map<string, Bucket>();
  let sweep = now();
  return {
    take(key, limit) {
      const at = now();
      // A bucket that has refilled holds no information: forget those now and then, so idle
      // keys cost nothing.
      if (at - sweep > 60_000) {
        sweep = at;
        for (const [name, b] of buckets) {
          if (b.tokens + ((at - b.updated) / 1000) * b.limit.perSecond >= b.limit.burst)
            buckets.delete(name);
        }
      }
      const bucket = buckets.get(key) ?? { tokens: limit.burst, updated: at, limit };
      bucket.limit = limit;
      bucket.tokens = Math.min(
        limit.burst,
        bucket.tokens + ((at - bucket.updated) / 1000) * limit.perSecond,
      );
      bucket.updated = at;
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - bucket.tokens) / limit.perSecond) * 1000);
    },
  };
}
