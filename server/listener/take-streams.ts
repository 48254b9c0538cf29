import type {
  Http2SecureServer,
  Http2Server,
  Http2ServerRequest,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from "node:http2";
import type { Pacer } from "./pacer.js";

/** StreamTaker serves an HTTP/2 stream on the core API and returns true, or returns false. */
export type StreamTaker = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

/**
 * takeStreams paces a server's HTTP/2 streams and lets `take` serve them on the core API,
 * before Node's compatibility layer wraps them in request and response objects; a stream it
 * leaves goes on to the server's request handler as before. (That layer is the server's one
 * "stream" listener, added with its request handler: it is moved behind `take`.)
 *
 * Each stream waits its session's turn with the pacer, so a flood of streams on one
 * connection is taken a few at a time, between reads of every other connection; a stream
 * whose client left meanwhile is dropped.
 */
export function takeStreams(
  server: Http2Server | Http2SecureServer,
  take: StreamTaker,
  pacer: Pacer,
): void {
  const [compat, ...others] = server.listeners("stream");
  if (compat === undefined || others.length > 0) {
    throw new Error("takeStreams needs a server with a request handler and no stream listener");
  }
  server.removeAllListeners("stream");
  server.on(
    "stream",
    (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      pacer.run(stream.session ?? stream, () => {
        if (stream.destroyed || take(stream, headers)) return;
        // The layer listens for the body's end, which an empty body may have reached in the
        // wait: the request it makes (if any) is then ended here, before the handler sees it.
        const ended = stream.readableEnded;
        if (ended) server.prependOnceListener("request", endRequest);
        compat.call(server, stream, headers, ...rest);
        if (ended) server.removeListener("request", endRequest);
      });
    },
  );
}

function endRequest(request: Http2ServerRequest): void {
  request.push(null);
}
