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
  /** query runs one statement, in a transaction of its own (retried after a deadlock). */
  readonly query: Query;
  /**
   * transaction runs fn in one transaction, retried when PostgreSQL resolved a deadlock by
   * aborting it. An opening statement without parameters goes with the BEGIN, in one round
   * trip; fn gets its rows.
   */
  transaction<T, R extends object = Record<string, unknown>>(
    fn: (query: Query, openingRows: R[]) => Promise<T>,
    opening?: string,
  ): Promise<T>;
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

/** isDeadlock tells whether PostgreSQL aborted a transaction to break a deadlock: a retry may pass. */
function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "40P01";
}
const maxTries = 5;

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

  // Every statement is prepared once per connection, under a name of its own: PostgreSQL
  // then parses and plans it once, not on every call. The store's statements are a fixed,
  // small set (list filters make a few more), so the names stay few.
  const names = new Map<string, string>();
  // Statements without parameters (the migrations: several commands in one) are sent as
  // they are.
  const prepared = (sql: string, params: readonly unknown[] | undefined): pg.QueryConfig => {
    if (params === undefined) return { text: sql };
    let name = names.get(sql);
    if (name === undefined) {
      name = `s${names.size}`;
      names.set(sql, name);
    }
    return { name, text: sql, values: params as unknown[] };
  };

  const query: Query = async (sql, params) => {
    for (let tries = 1; ; tries++) {
      try {
        return (await pool.query(prepared(sql, params))).rows;
      } catch (error) {
        if (!isDeadlock(error) || tries >= maxTries) throw unavailable(error);
      }
    }
  };

  async function attempt<T, R extends object>(
    fn: (query: Query, openingRows: R[]) => Promise<T>,
    opening: string | undefined,
  ): Promise<T> {
    const client = await pool.connect();
    // The server may drop the connection between statements: the next one then fails, and
    // the event must not end the process meanwhile.
    const ignore = () => {};
    client.on("error", ignore);
    const inTransaction: Query = async (sql, params) =>
      (await client.query(prepared(sql, params))).rows;
    try {
      let openingRows: R[] = [];
      if (opening === undefined) await client.query("BEGIN");
      else {
        // Two statements in one simple query: one result each.
        const results = (await client.query(`BEGIN; ${opening}`)) as unknown as pg.QueryResult[];
        openingRows = (results[1]?.rows ?? []) as R[];
      }
      const result = await fn(inTransaction, openingRows);
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
    async transaction(fn, opening) {
      for (let tries = 1; ; tries++) {
        try {
          return await attempt(fn, opening);
        } catch (error) {
          if (!isDeadlock(error) || tries >= maxTries) throw unavailable(error);
        }
      }
    },
    close: () => pool.end(),
  };
}
