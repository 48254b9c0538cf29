import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { clientConfig } from "./pg-database.js";

/** PgFeedOptions say what the feed listens to and whom it tells. */
export interface PgFeedOptions {
  readonly url: string;
  /** The NOTIFY channels to LISTEN on. */
  readonly channels: readonly string[];
  /** Called with each notification's channel and payload. */
  readonly onNotification: (channel: string, payload: string) => void;
  /** Called when the connection is lost (false) and when it is back (true). */
  readonly onAvailability: (available: boolean) => void;
  /** Called after a reconnect: notifications sent meanwhile were lost. */
  readonly onGap: () => void;
}

/** PgFeed is a connection that stays LISTENing, reconnecting by itself after a failure. */
export interface PgFeed {
  /** Whether the feed is connected now. */
  readonly available: boolean;
  close(): Promise<void>;
}

/** How often a lost feed tries to reconnect, and how often a live one checks its connection. */
const retryMs = 500;
const pingMs = 2_000;

/**
 * startPgFeed connects and LISTENs, resolving once it does (or rejecting if the first
 * connection fails). After that, a lost connection is retried every half second until it is
 * back; meanwhile the store reports the database unavailable.
 */
export async function startPgFeed(options: PgFeedOptions): Promise<PgFeed> {
  let client: pg.Client | undefined;
  let available = false;
  let closed = false;
  const stopping = new AbortController();

  async function connect(): Promise<pg.Client> {
    const next = new pg.Client(clientConfig(options.url));
    next.on("notification", (message) => {
      options.onNotification(message.channel, message.payload ?? "");
    });
    try {
      await next.connect();
      for (const channel of options.channels) await next.query(`LISTEN ${channel}`);
    } catch (error) {
      await next.end().catch(() => {});
      throw error;
    }
    return next;
  }

  function setAvailable(next: boolean) {
    if (next === available) return;
    available = next;
    options.onAvailability(next);
  }

  /** supervise pings the connection and, when it fails, reconnects until it succeeds. */
  async function supervise(): Promise<void> {
    while (!closed) {
      await sleep(available ? pingMs : retryMs, undefined, { signal: stopping.signal }).catch(
        () => {},
      );
      if (closed) return;
      if (available && client) {
        const ok = await client.query("SELECT 1").then(
          () => true,
          () => false,
        );
        if (ok) continue;
        client.end().catch(() => {});
        client = undefined;
        setAvailable(false);
      }
      try {
        client = watch(await connect());
        setAvailable(true);
        options.onGap();
      } catch {
        // Still down: try again after the next pause.
      }
    }
  }

  /** watch marks the feed unavailable as soon as its connection ends or fails. */
  function watch(next: pg.Client): pg.Client {
    const drop = () => {
      if (client !== next || closed) return;
      client = undefined;
      next.end().catch(() => {});
      setAvailable(false);
    };
    next.on("error", drop);
    next.on("end", drop);
    return next;
  }

  client = watch(await connect());
  setAvailable(true);
  const supervising = supervise();
  return {
    get available() {
      return available;
    },
    async close() {
      closed = true;
      stopping.abort();
      await supervising;
      await client?.end().catch(() => {});
    },
  };
}
