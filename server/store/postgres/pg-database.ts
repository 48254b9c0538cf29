import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";

/** Query runs one statement and returns its rows. */
export type Query = <R extends object = Record<string, unknown>>(
  sql: string,
  params?: readonly unknown[],
) => Promise<R[]>;

/**
 * PgDatabase is a pool of connections to PostgreSQL whose failures to reach the server are
 * ConnectErrors with code Unavailable: a request that needs the database while it is down
 * fails at once with a clear error instead of hanging or answering Internal.
 */
export interface PgDatabase {
  readonly query: Query;
  /** transaction runs fn in one transaction, retried when PostgreSQL resolved a deadlock by aborting it. */
  transaction<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  /** close ends every connection. */
  close(): Promise<void>;
}

/** PgDatabaseOptions configure the pool. */
export interface PgDatabaseOptions {
  readonly url: string;
  /** The most connections open at once. */
  readonly poolSize: number;
}

// Connection failures: class 08 (connection exception), 57P01-57P03 (the server is shutting
// down or starting), 53300 (too many connections), and Node's own socket errors.
const unavailableCodes = /^(08...|57P0[123]|53300|E[A-Z]+)$/;
const unavailableMessages =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed/;

/** isUnavailable tells whether an error means PostgreSQL could not be reached. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    (typeof code === "string" && unavailableCodes.test(code)) ||
    unavailableMessages.test(error.message)
  );
}

function unavailable(error: unknown): unknown {
  if (!isUnavailable(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ConnectError(`the database is unavailable: ${reason}`, Code.Unavailable);
}

/** bigint columns (timestamps in ms, sequence numbers) read as numbers: all fit in 2^53. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === pg.types.builtins.INT8) return Number;
    return pg.types.getTypeParser(oid, format as "text");
  },
};

/** clientConfig is how every connection of the store connects, the feed's included. */
export function clientConfig(url: string): pg.ClientConfig {
  return { connectionString: url, types, connectionTimeoutMillis: 2_000 };
}

/** createPgDatabase opens a pool; connections are made when first needed. */
export function createPgDatabase(options: PgDatabaseOptions): PgDatabase {
  const pool = new pg.Pool({ ...clientConfig(options.url), max: options.poolSize });
  // An idle connection the server closed (a restart) is dropped from the pool; the next
  // query opens a new one. Without a listener the error would end the process.
  pool.on("error", () => {});

  const query: Query = async (sql, params) => {
    try {
      return (await pool.query(sql, params as unknown[])).rows;
    } catch (error) {
      throw unavailable(error);
    }
  };

  async function attempt<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    // The server may drop the connection between statements: the next one then fails, and
    // the event must not end the process meanwhile.
    const ignore = () => {};
    client.on("error", ignore);
    const inTransaction: Query = async (sql, params) =>
      (await client.query(sql, params as unknown[])).rows;
    try {
      await client.query("BEGIN");
      const result = await fn(inTransaction);
      await client.query("COMMIT");
      client.off("error", ignore);
      client.release();
      return result;
    } catch (error) {
      // A broken connection is destroyed, not returned to the pool.
      await client.query("ROLLBACK").catch(() => {});
      client.off("error", ignore);
      client.release(isUnavailable(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  return {
    query,
    async transaction(fn) {
      for (let tries = 1; ; tries++) {
        try {
          return await attempt(fn);
        } catch (error) {
          const deadlock = (error as { code?: unknown }).code === "40P01";
          if (!deadlock || tries >= 5) throw unavailable(error);
        }
      }
    },
    close: () => pool.end(),
  };
}
