import type {
  Http2SecureServer,
  Http2Server,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from "node:http2";

/** StreamTaker serves an HTTP/2 stream and returns true, or returns false to leave it. */
export type StreamTaker = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

/**
 * takeStreams lets `take` serve HTTP/2 streams on the core API, before Node's compatibility
 * layer wraps them in request and response objects; a stream it leaves goes on to the
 * server's request handler as before. (That layer is the server's one "stream" listener,
 * added with its request handler: it is moved behind `take`.)
 */
export function takeStreams(server: Http2Server | Http2SecureServer, take: StreamTaker): void {
  const [compat, ...others] = server.listeners("stream");
  if (compat === undefined || others.length > 0) {
    throw new Error("takeStreams needs a server with a request handler and no stream listener");
  }
  server.removeAllListeners("stream");
  server.on(
    "stream",
    (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      if (!take(stream, headers)) compat.call(server, stream, headers, ...rest);
    },
  );
}
