import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import {
  constants as http2Constants,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
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
  /** onClose calls back once the exchange is over (at once, when it is already). */
  onClose(listener: () => void): void;
  /** abort ends the exchange at once, as it stands: a stream is reset, a connection cut. */
  abort(): void;
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

/** Http2Exchange carries a call on its HTTP/2 stream. */
export class Http2Exchange implements FastExchange {
  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {}

  get body(): Readable {
    return this.stream;
  }

  get remoteAddress(): string {
    return this.stream.session?.socket?.remoteAddress ?? "";
  }

  get answered(): boolean {
    return this.stream.headersSent;
  }

  get closed(): boolean {
    return this.stream.closed || this.stream.destroyed;
  }

  onClose(listener: () => void): void {
    if (this.stream.closed || this.stream.destroyed) queueMicrotask(listener);
    else this.stream.once("close", listener);
  }

  abort(): void {
    this.stream.close(http2Constants.NGHTTP2_CANCEL);
  }

  answer(
    headers: OutgoingHttpHeaders,
    body: Uint8Array | undefined,
    trailers?: Record<string, string>,
  ): void {
    const stream = this.stream;
    if (trailers) {
      stream.respond(headers, { waitForTrailers: true });
      // (`on`, not `once`: a stream asks for its trailers once.)
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end(body);
      return;
    }
    stream.respond(headers, { endStream: !body });
    if (body) endAfter(stream, body);
  }
}

/**
 * Http1Exchange carries a call on an HTTP/1.1 request and its response; its headers get the
 * pseudo-headers HTTP/2 would have sent.
 */
export class Http1Exchange implements FastExchange {
  readonly headers: IncomingHttpHeaders;

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
  ) {
    this.headers = {
      ...request.headers,
      ":method": request.method,
      ":path": request.url,
      ":authority": request.headers.host,
    };
  }

  get body(): Readable {
    return this.request;
  }

  get remoteAddress(): string {
    return this.request.socket.remoteAddress ?? "";
  }

  get answered(): boolean {
    return this.response.headersSent;
  }

  get closed(): boolean {
    return this.response.closed || this.response.destroyed;
  }

  onClose(listener: () => void): void {
    if (this.closed) queueMicrotask(listener);
    else this.response.once("close", listener);
  }

  abort(): void {
    this.response.destroy();
  }

  answer(
    headers: OutgoingHttpHeaders,
    body: Uint8Array | undefined,
    trailers?: Record<string, string>,
  ): void {
    if (trailers) throw new Error("an answer with trailers needs HTTP/2");
    const { ":status": status, ...rest } = headers;
    this.response.writeHead(Number(status), rest);
    this.response.end(body);
  }
}

/**
 * endAfter sends the last bytes of an answer without trailers, and ends the stream once they
 * are written. Ending it with them costs more: node:http2 then closes the stream while the
 * write is pending, and makes an error (with its stack trace) for that write when it
 * completes, about a fifth of a bare server's time per call. The end comes as an empty frame.
 */
function endAfter(stream: ServerHttp2Stream, body: Uint8Array): void {
  if (body.byteLength === 0) {
    stream.end();
    return;
  }
  stream.write(body, (error) => {
    if (!error) stream.end();
  });
}
