import type { ServerHttp2Session } from "node:http2";

/** Http2DeadlineOptions bound how long an HTTP/2 connection may stay open doing nothing. */
export interface Http2DeadlineOptions {
  /** How long a new session has to open its first stream (its preface and settings included). */
  readonly firstStreamTimeoutMs: number;
  /** How long a session may stay open with no stream open before it is asked to go away. */
  readonly idleTimeoutMs: number;
}

// How long a session asked to go away (GOAWAY) has to close before it is cut off.
const goAwayGraceMs = 5_000;

/**
 * guardSession closes an HTTP/2 session that opens no stream in time (it is cut off: a client
 * that sends its preface and settings and nothing more holds a connection for nothing), and
 * one left with no open stream for the idle timeout (it gets a GOAWAY first, as clients
 * expect; they reconnect when they next call).
 */
export function guardSession(session: ServerHttp2Session, options: Http2DeadlineOptions): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined = setTimeout(
    () => session.destroy(),
    options.firstStreamTimeoutMs,
  ).unref();
  const goAway = () => {
    session.close();
    setTimeout(() => session.destroy(), goAwayGraceMs).unref();
  };
  session.on("stream", (stream) => {
    open++;
    clearTimeout(timer);
    timer = undefined;
    stream.once("close", () => {
      open--;
      if (open === 0 && !session.closed && !session.destroyed) {
        timer = setTimeout(goAway, options.idleTimeoutMs).unref();
      }
    });
  });
  session.once("close", () => clearTimeout(timer));
}
