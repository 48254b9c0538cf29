import * as http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { capConnections, connectionCapOf, openFileLimit } from "./connection-caps.js";
import { createListener, type Listener, type ListenerOptions } from "./listener.js";

// The HTTP/2 connection preface, then an empty SETTINGS frame: all a client must send first.
const http2Preface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

let listener: Listener | undefined;
afterEach(async () => {
  await listener?.close(100);
  listener = undefined;
});

/** serve starts a listener whose handler reads the request body whole, then answers its size. */
async function serve(options: Partial<ListenerOptions> = {}): Promise<URL> {
  listener = createListener({
    handler: (request, response) => {
      let size = 0;
      request.on("data", (chunk: Buffer) => {
        size += chunk.byteLength;
      });
      request.on("end", () => response.end(String(size)));
    },
    deadlines: {
      headerTimeoutMs: 300,
      idleTimeoutMs: 300,
      requestTimeoutMs: 60_000,
      minBodyBytesPerSecond: 10_000,
    },
    maxConcurrentStreams: 100,
    ...options,
  });
  return listener.listen(0, "127.0.0.1");
}

/** open connects from an address, and resolves once connected. */
function open(url: URL, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(url.port), host: "127.0.0.1", localAddress });
    socket.on("error", () => {});
    socket.once("connect", () => resolve(socket));
    socket.once("close", () => reject(new Error("closed before it connected")));
  });
}

/** closed resolves once the server has closed the socket (it reads nothing from it). */
const closed = (socket: Socket) =>
  new Promise<void>((resolve) => {
    socket.resume();
    socket.once("close", () => resolve());
  });

describe("connection deadlines", () => {
  it("cuts off an HTTP/2 connection that sends its preface and settings and opens no stream", async () => {
    const url = await serve();
    const socket = await open(url);
    socket.write(http2Preface);
    await closed(socket);
  });

  it("asks an HTTP/2 connection with no stream open to go away after the idle timeout, not before its streams end", async () => {
    const url = await serve({
      handler: (request, response) => {
        // Answers /slow only when the client's body ends: a stream open as long as it likes.
        request.resume();
        request.on("end", () => response.end("done"));
      },
    });
    const session = http2.connect(url);
    const goaway = new Promise((resolve) => session.once("goaway", resolve));
    const stream = session.request({ ":path": "/slow", ":method": "POST" });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // Six idle timeouts with a stream open: the session stays.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      stream.write("x");
    }
    expect(session.closed || session.destroyed).toBe(false);
    stream.end();
    await new Promise((resolve) => stream.once("end", resolve));
    expect(Buffer.concat(chunks).toString()).toBe("done");
    await goaway;
    session.destroy();
  });

  it("cuts off an HTTP/1.1 body that trickles in, and serves one that arrives steadily", async () => {
    const url = await serve();
    const socket = await open(url);
    socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n`);
    const trickle = setInterval(() => socket.write("x"), 100);
    await closed(socket);
    clearInterval(trickle);
    const body = "y".repeat(200_000);
    const response = await fetch(url, { method: "POST", body });
    expect(await response.text()).toBe(String(body.length));
  });

  it("gives the next request on a kept-alive connection its own header deadline", async () => {
    const url = await serve();
    const socket = await open(url);
    let answers = "";
    socket.on("data", (chunk: Buffer) => {
      answers += chunk.toString();
    });
    socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nx-slow: ");
    const drip = setInterval(() => socket.write("a"), 50);
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    clearInterval(drip);
    expect(answers.match(/HTTP\/1\.1 200/g)).toHaveLength(1);
  });

  it("leaves an upgraded connection alone once its headers arrived", async () => {
    const upgraded = new Promise<Socket>((resolve) => {
      void serve({
        upgrade: (_request, socket) => {
          socket.write(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n",
          );
          resolve(socket as Socket);
        },
      }).then(async (url) => {
        const socket = await open(url);
        socket.write("GET / HTTP/1.1\r\nhost: x\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n");
      });
    });
    const serverSide = await upgraded;
    // Five header deadlines later, it is still open.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(serverSide.destroyed).toBe(false);
    serverSide.destroy();
  });
});

describe("connection caps", () => {
  it("resets connections past an address's share at once, and serves other addresses", async () => {
    listener = createListener({
      handler: (_request, response) => response.end("ok"),
      deadlines: {
        headerTimeoutMs: 60_000,
        idleTimeoutMs: 60_000,
        requestTimeoutMs: 60_000,
        minBodyBytesPerSecond: 1_000,
      },
      caps: {
        maxConnections: 100,
        maxConnectionsPerAddress: 5,
        uncapped: (address) => address === "127.0.0.3",
      },
      maxConcurrentStreams: 100,
    });
    const url = await listener.listen(0, "127.0.0.1");
    const held = await Promise.all(Array.from({ length: 5 }, () => open(url, "127.0.0.2")));
    // The sixth connects (the kernel accepts it), and is reset before a byte is read.
    const refused = await open(url, "127.0.0.2");
    await closed(refused);
    expect(await (await fetch(url)).text()).toBe("ok");
    const proxied = await Promise.all(Array.from({ length: 8 }, () => open(url, "127.0.0.3")));
    for (const socket of [...held, ...proxied]) socket.destroy();
  });

  it("refuses connections past the total before they reach the server's handlers", async () => {
    const server = await import("node:net").then((net) => net.createServer());
    const accepted: Socket[] = [];
    server.on("connection", (socket) => accepted.push(socket));
    capConnections(server, { maxConnections: 3, maxConnectionsPerAddress: 100 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    const held = await Promise.all(Array.from({ length: 3 }, () => open(url)));
    const refused = await open(url);
    await closed(refused);
    expect(accepted).toHaveLength(3);
    for (const socket of [...held, ...accepted]) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("takes four fifths of the open-file limit, and keeps a configured cap below it", () => {
    const limits =
      "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                524288               files\n";
    expect(openFileLimit(() => limits)).toBe(20_000);
    expect(openFileLimit(() => "nothing here")).toBeUndefined();
    expect(connectionCapOf(0, 20_000)).toBe(16_000);
    expect(connectionCapOf(500, 20_000)).toBe(500);
    expect(connectionCapOf(50_000, 20_000)).toBe(16_000);
    expect(connectionCapOf(0, undefined)).toBe(819);
  });
});
