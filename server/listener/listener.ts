import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import type * as tls from "node:tls";
import { type ConnectionCapsOptions, capConnections } from "./connection-caps.js";
import { Http1Deadlines } from "./http1-deadlines.js";
import { guardSession } from "./http2-deadlines.js";
import type { RequestHandler } from "./node-types.js";
import { Pacer, workPerTurn } from "./pacer.js";
import { routeConnection } from "./protocol-sniffer.js";
import { type StreamTaker, takeStreams } from "./take-streams.js";

/** UpgradeHandler takes an HTTP/1.1 upgrade request (a WebSocket handshake) and its socket. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** ListenerOptions configures the one port everything is served on. */
export interface ListenerOptions {
  readonly handler: RequestHandler;
  /** Serves HTTP/2 streams it takes on the core API, before the handler sees them. */
  readonly streams?: StreamTaker | undefined;
  /**
   * Shares the event loop's turns among connections: each request waits its turn. One of
   * its own (workPerTurn pieces a turn) when not given.
   */
  readonly pacer?: Pacer | undefined;
  /** Takes HTTP/1.1 upgrade requests; without it they are refused. */
  readonly upgrade?: UpgradeHandler | undefined;
  /** How long clients may take, and stay idle. */
  readonly deadlines: ListenerDeadlines;
  /** The most connections, in all and from one address; unbounded when not set. */
  readonly caps?: ConnectionCapsOptions | undefined;
  /** The most HTTP/2 streams one connection may have open. */
  readonly maxConcurrentStreams: number;
  /** PEM certificate and key files; when both are set the port speaks TLS with ALPN. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
}

/** ListenerDeadlines bound how long a connection may take to ask, and stay open doing nothing. */
export interface ListenerDeadlines {
  /**
   * How long a connection has to send its first bytes, an HTTP/2 connection to open its first
   * stream, and an HTTP/1.1 request its headers.
   */
  readonly headerTimeoutMs: number;
  /** How long an HTTP/2 connection may stay open with no stream open. */
  readonly idleTimeoutMs: number;
  /** The longest an HTTP/1.1 request's body may take to arrive. */
  readonly requestTimeoutMs: number;
  /** The slowest an HTTP/1.1 request's body may arrive, past its first headerTimeoutMs. */
  readonly minBodyBytesPerSecond: number;
}

/** Listener is one port serving HTTP/2 (cleartext with prior knowledge, or TLS) and HTTP/1.1. */
export interface Listener {
  /** listen binds the port and resolves with the URL to reach it. */
  listen(port: number, host: string): Promise<URL>;
  /**
   * close stops accepting connections, asks HTTP/2 clients to go away, and after graceMs
   * destroys whatever is still open (for example watch streams that never end).
   */
  close(graceMs: number): Promise<void>;
}

/**
 * createListener builds the server without listening. In cleartext, each connection is
 * routed by its first bytes (see routeConnection); over TLS, ALPN offers h2 and http/1.1.
 */
export function createListener(options: ListenerOptions): Listener {
  const { deadlines } = options;
  const pacer = options.pacer ?? new Pacer(workPerTurn);
  const http1Deadlines = new Http1Deadlines(deadlines);
  // HTTP/1.1 sockets with a request in flight; the others are idle keep-alive connections.
  const busy = new Set<Socket>();
  let closing = false;
  // Every request waits its turn with the pacer: its connection's. (HTTP/2 streams wait
  // theirs before they become requests: see takeStreams.)
  const handler: RequestHandler = (request, response) => {
    if (request.httpVersionMajor !== 1) {
      options.handler(request, response);
      return;
    }
    const socket = request.socket as Socket;
    http1Deadlines.request(request as IncomingMessage, response as http.ServerResponse);
    busy.add(socket);
    response.once("close", () => {
      busy.delete(socket);
      if (closing) socket.end();
    });
    pacer.run(socket, () => {
      if (!socket.destroyed) options.handler(request, response);
    });
  };
  const settings = { maxConcurrentStreams: options.maxConcurrentStreams };
  const http2Server = options.tls
    ? http2.createSecureServer(
        {
          cert: readFileSync(options.tls.certFile),
          key: readFileSync(options.tls.keyFile),
          allowHTTP1: true,
          settings,
        },
        handler,
      )
    : http2.createServer({ settings }, handler);
  takeStreams(http2Server, options.streams ?? (() => false), pacer);
  const server: net.Server = options.tls ? http2Server : net.createServer();
  if (options.caps) capConnections(server, options.caps);
  const upgrade: UpgradeHandler = options.upgrade ?? ((_request, socket) => socket.destroy());
  // An upgrade waits its connection's turn too: a few hundred handshakes arriving together
  // are taken a few at a time.
  const upgradeAfterHeaders: UpgradeHandler = (request, socket, head) => {
    http1Deadlines.upgrade(request.socket);
    pacer.run(socket, () => {
      if (!socket.destroyed) upgrade(request, socket, head);
    });
  };
  // Over TLS, HTTP/1.1 requests (and so upgrades) reach the HTTP/2 server through allowHTTP1.
  http2Server.on("upgrade", upgradeAfterHeaders);
  if (options.tls) {
    http2Server.on("secureConnection", (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol !== "h2") http1Deadlines.connection(socket);
    });
  } else {
    const http1Server = http.createServer(handler);
    // Node's own deadlines are checked only for servers that listen themselves (see
    // Http1Deadlines); the requests themselves may last, as a watch stream over HTTP/1.1 does.
    http1Server.requestTimeout = 0;
    http1Server.on("connection", (socket: Socket) => http1Deadlines.connection(socket));
    http1Server.on("upgrade", upgradeAfterHeaders);
    server.on("connection", (socket: Socket) =>
      routeConnection(socket, {
        http1: http1Server,
        http2: http2Server,
        timeoutMs: deadlines.headerTimeoutMs,
      }),
    );
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<Socket>();
  http2Server.on("session", (session: http2.ServerHttp2Session) => {
    guardSession(session, {
      firstStreamTimeoutMs: deadlines.headerTimeoutMs,
      idleTimeoutMs: deadlines.idleTimeoutMs,
    });
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const scheme = options.tls ? "https" : "http";

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          const hostname = address.family === "IPv6" ? `[${address.address}]` : address.address;
          resolve(new URL(`${scheme}://${hostname}:${address.port}`));
        });
      });
    },
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // HTTP/2 clients get a GOAWAY and finish their open streams.
      for (const session of sessions) session.close();
      const http2Sockets = new Set([...sessions].map((session) => session.socket));
      for (const socket of sockets) {
        if (!http2Sockets.has(socket as never) && !busy.has(socket)) socket.end();
      }
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
