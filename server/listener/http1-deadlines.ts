import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Http1DeadlineOptions bound how slowly an HTTP/1.1 client may send a request. */
export interface Http1DeadlineOptions {
  /**
   * How long a connection has to send a request's headers: its first, and each next one
   * after the previous response (so an idle keep-alive connection is closed after it too).
   */
  readonly headerTimeoutMs: number;
  /** The longest a request's body may take to arrive, however fast it comes. */
  readonly requestTimeoutMs: number;
  /**
   * The slowest a body may arrive: it has headerTimeoutMs to start, and one more second for
   * every this many bytes received (as Apache's mod_reqtimeout does with MinRate).
   */
  readonly minBodyBytesPerSecond: number;
}

/** A connection's one pending deadline: for the next request's headers, or for a body. */
interface Deadline {
  timer: NodeJS.Timeout | undefined;
}

/**
 * Http1Deadlines cuts off HTTP/1.1 clients that send too slowly: headers that never end, and
 * bodies trickling in (a large content-length, then a byte now and then). Node checks its own
 * headersTimeout and requestTimeout only on servers that listen themselves, which ours (handed
 * its connections by the protocol sniffer) does not. A response may last as long as it likes:
 * a watch stream over HTTP/1.1 does.
 */
export class Http1Deadlines {
  private readonly deadlines = new WeakMap<Socket, Deadline>();

  constructor(private readonly options: Http1DeadlineOptions) {}

  /** connection starts a new connection's header deadline. */
  connection(socket: Socket): void {
    const deadline: Deadline = { timer: undefined };
    this.deadlines.set(socket, deadline);
    socket.once("close", () => clearTimeout(deadline.timer));
    this.expectHeaders(socket, deadline);
  }

  /** request ends the header deadline of a request whose headers arrived, and starts its body's. */
  request(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    const deadline = this.deadlines.get(socket);
    if (deadline === undefined) return;
    clearTimeout(deadline.timer);
    deadline.timer = undefined;
    if (!request.complete) this.watchBody(request, socket, deadline);
    // The next request on a kept-alive connection gets its own header deadline.
    response.once("finish", () => {
      if (!socket.destroyed) this.expectHeaders(socket, deadline);
    });
  }

  /** upgrade ends the deadlines of a connection that became a WebSocket. */
  upgrade(socket: Socket): void {
    const deadline = this.deadlines.get(socket);
    if (deadline) clearTimeout(deadline.timer);
  }

  private expectHeaders(socket: Socket, deadline: Deadline): void {
    clearTimeout(deadline.timer);
    deadline.timer = setTimeout(() => socket.destroy(), this.options.headerTimeoutMs).unref();
  }

  private watchBody(request: IncomingMessage, socket: Socket, deadline: Deadline): void {
    const { headerTimeoutMs, requestTimeoutMs, minBodyBytesPerSecond } = this.options;
    const started = performance.now();
    const bytesBefore = socket.bytesRead;
    const check = () => {
      deadline.timer = undefined;
      if (request.complete || socket.destroyed) return;
      const elapsed = performance.now() - started;
      const received = socket.bytesRead - bytesBefore;
      const allowed = Math.min(
        requestTimeoutMs,
        headerTimeoutMs + (received / minBodyBytesPerSecond) * 1_000,
      );
      // A body the server has not read is held up by the server, not by the client.
      const unread = request.readableLength >= request.readableHighWaterMark;
      if (elapsed < allowed || (unread && elapsed < requestTimeoutMs)) {
        const wait = elapsed < allowed ? allowed - elapsed : headerTimeoutMs;
        deadline.timer = setTimeout(check, wait).unref();
        return;
      }
      socket.destroy();
    };
    deadline.timer = setTimeout(check, headerTimeoutMs).unref();
  }
}
