import type { RateLimiter } from "../../security/rate-limiter.js";
import type { PgDatabase } from "./pg-database.js";

/**
 * createPgRateLimiter keeps the token buckets in the unlogged rate_buckets table, so a key's
 * limit holds across every instance: one call of take_rate_token (see the migrations) refills
 * and spends atomically.
 */
export function createPgRateLimiter(db: PgDatabase): RateLimiter {
  return {
    async take(bucket, limit) {
      const [row] = await db.query<{ wait: number }>("SELECT take_rate_token($1, $2, $3) AS wait", [
        bucket,
        limit.burst,
        limit.perSecond,
      ]);
      return row?.wait ?? 0;
    },
  };
}
