import type { Server as Http1Server } from "node:http";
import type { Http2Server } from "node:http2";
import type { Socket } from "node:net";

// Every HTTP/2 prior-knowledge connection opens with "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"; no
// HTTP/1.1 method starts with "PRI ", so four bytes tell the two apart.
const preface = Buffer.from("PRI ", "latin1");

/** SnifferOptions are the two servers a cleartext connection can be handed to. */
export interface SnifferOptions {
  readonly http1: Http1Server;
  readonly http2: Http2Server;
  /** How long a new connection may take to send its first four bytes. */
  readonly timeoutMs: number;
}

/**
 * routeConnection reads the first bytes of a cleartext connection and hands it to the
 * HTTP/2 server when they are the HTTP/2 preface, else to the HTTP/1.1 server. Node 20's
 * http2.createServer cannot do this itself (its allowHTTP1 needs TLS).
 */
export function routeConnection(socket: Socket, options: SnifferOptions): void {
  let head = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), options.timeoutMs);
  const onError = () => clearTimeout(timer);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    if (head.length < preface.length) return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    socket.unshift(head);
    if (head.subarray(0, preface.length).equals(preface)) {
      // The HTTP/2 session reads the unshifted bytes itself when it takes the socket over.
      options.http2.emit("connection", socket);
    } else {
      options.http1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", onError);
}
