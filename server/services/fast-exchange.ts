import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";

/**
 * FastExchange is what a fast call is carried by: an HTTP/2 stream, or an HTTP/1.1 request
 * and its response. The call reads its request from it and answers through it.
 */
export interface FastExchange {
  /** The request's headers, with HTTP/2's pseudo-headers (:method, :path, :authority). */
  readonly headers: IncomingHttpHeaders;
  /** The request body. */
  readonly body: Readable;
  /** The caller's address. */
  readonly remoteAddress: string;
  /** Whether the answer's headers were sent. */
  readonly answered: boolean;
  /** Whether the exchange is over: answered, or the caller left. */
  readonly closed: boolean;
  /** onClose calls back once the exchange is over. */
  onClose(listener: () => void): void;
  /**
   * answer sends the headers (":status" among them), then the body and trailers if any, and
   * ends the exchange. Trailers need HTTP/2.
   */
  answer(
    headers: OutgoingHttpHeaders,
    body: Uint8Array | undefined,
    trailers?: Record<string, string>,
  ): void;
}

/** http2Exchange carries a call on its HTTP/2 stream. */
export function http2Exchange(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
): FastExchange {
  return {
    headers,
    body: stream,
    get remoteAddress() {
      return stream.session?.socket?.remoteAddress ?? "";
    },
    get answered() {
      return stream.headersSent;
    },
    get closed() {
      return stream.closed || stream.destroyed;
    },
    onClose(listener) {
      stream.once("close", listener);
    },
    answer(answerHeaders, body, trailers) {
      if (trailers) {
        stream.respond(answerHeaders, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end(body);
        return;
      }
      stream.respond(answerHeaders, { endStream: !body });
      if (body) endAfter(stream, body);
    },
  };
}

/**
 * http1Exchange carries a call on an HTTP/1.1 request and its response; its headers get the
 * pseudo-headers HTTP/2 would have sent.
 */
export function http1Exchange(request: IncomingMessage, response: ServerResponse): FastExchange {
  return {
    headers: {
      ...request.headers,
      ":method": request.method,
      ":path": request.url,
      ":authority": request.headers.host,
    },
    body: request,
    remoteAddress: request.socket.remoteAddress ?? "",
    get answered() {
      return response.headersSent;
    },
    get closed() {
      return response.closed || response.destroyed;
    },
    onClose(listener) {
      response.once("close", listener);
    },
    answer(answerHeaders, body, trailers) {
      if (trailers) throw new Error("an answer with trailers needs HTTP/2");
      const { ":status": status, ...rest } = answerHeaders;
      response.writeHead(Number(status), rest);
      response.end(body);
    },
  };
}

/**
 * endAfter sends the last bytes of an answer without trailers, and ends the stream once they
 * are written. Ending it with them costs more: node:http2 then closes the stream while the
 * write is pending, and makes an error (with its stack trace) for that write when it
 * completes, about a fifth of a bare server's time per call. The end comes as an empty frame.
 */
function endAfter(stream: ServerHttp2Stream, body: Uint8Array | undefined): void {
  if (body === undefined || body.byteLength === 0) {
    stream.end();
    return;
  }
  stream.write(body, (error) => {
    if (!error) stream.end();
  });
}
