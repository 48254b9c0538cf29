// Raw connections for the attack suite: whatever bytes an attacker cares to send, from a
// loopback address of its choosing (all of 127.0.0.0/8 reaches a server on 127.0.0.1).
import { connect, type Socket } from "node:net";

/** The HTTP/2 connection preface, then an empty SETTINGS frame: all a client must send first. */
export const http2Preface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** RawConnection is an attacker's connection, and when the server closed it. */
export interface RawConnection {
  readonly socket: Socket;
  /** Resolves once the connection is closed (by the server: the attacker never closes it). */
  readonly closed: Promise<void>;
}

/**
 * openRaw connects to the server from an address, sends the first bytes if any, and resolves
 * once connected: with the connection, which the server may close at once.
 */
export function openRaw(url: URL, from: string, first?: string | Buffer): Promise<RawConnection> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), localAddress: from });
    socket.on("error", () => {});
    // What the server answers is not read, only drained.
    socket.resume();
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("connect", () => {
      if (first !== undefined) socket.write(first);
      resolve({ socket, closed });
    });
    // Refused before it connected: closed already.
    socket.once("close", () => resolve({ socket, closed }));
  });
}

/** openMany opens `count` connections, a batch of 50 at a time, as openRaw does. */
export async function openMany(
  count: number,
  open: (index: number) => Promise<RawConnection>,
): Promise<RawConnection[]> {
  const opened: RawConnection[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, (_, i) => open(start + i));
    opened.push(...(await Promise.all(batch)));
  }
  return opened;
}

/** trickle writes one byte at an interval until the connection closes. */
export function trickle(connection: RawConnection, byte: string, intervalMs: number): void {
  const timer = setInterval(() => connection.socket.write(byte), intervalMs);
  void connection.closed.then(() => clearInterval(timer));
}

/** frame is one HTTP/2 frame (RFC 9113, 4.1). */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.byteLength, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

const frameType = { data: 0, headers: 1, settings: 4, windowUpdate: 8 } as const;
const flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4 } as const;

/** hpackInteger is an integer with an n-bit prefix (RFC 7541, 5.1); the prefix byte has 0s above. */
function hpackInteger(value: number, prefixBits: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [value];
  const bytes = [max];
  let rest = value - max;
  for (; rest >= 128; rest = Math.floor(rest / 128)) bytes.push((rest % 128) + 128);
  bytes.push(rest);
  return bytes;
}

/**
 * headerBlocks encodes the same header fields for a connection's first stream and for the
 * streams after it, as clients do (RFC 7541): the first block adds each field to the
 * decoder's table (literals with incremental indexing, new names), the later ones name the
 * table's entries, a byte each.
 */
function headerBlocks(fields: Record<string, string>): { first: Buffer; next: Buffer } {
  const text = (value: string) => {
    const bytes = Buffer.from(value, "latin1");
    return [Buffer.from(hpackInteger(bytes.byteLength, 7)), bytes];
  };
  const entries = Object.entries(fields);
  const first = entries.flatMap(([name, value]) => [
    Buffer.from([0x40]),
    ...text(name),
    ...text(value),
  ]);
  // The dynamic table starts at index 62, newest entry first.
  const next = entries.map((_, i) => {
    const [byte = 0, ...more] = hpackInteger(62 + entries.length - 1 - i, 7);
    return Buffer.from([0x80 | byte, ...more]);
  });
  return { first: Buffer.concat(first), next: Buffer.concat(next) };
}

/** StreamFlood is a connection that opened many streams at once, and what came back. */
export interface StreamFlood {
  readonly socket: Socket;
  /** Streams whose answer so far carries the text looked for. */
  answered(): number;
}

/**
 * floodStreams opens a connection and, in one write, `count` streams on it: each a POST of
 * `body` to `path` with the headers given, in raw frames. An attacker's tool pays next to
 * nothing for them (no state kept per stream, nothing parsed but frame headers), unlike an
 * HTTP/2 client library: the server's cost is all there is. Its headers are compressed as a
 * client library's are. It acknowledges the server's
 * settings and opens the connection's flow-control window wide; `answered` counts the
 * streams whose DATA frames carried `lookFor`.
 */
export function floodStreams(
  url: URL,
  request: { path: string; headers: Record<string, string>; body: Buffer; count: number },
  lookFor: string,
): StreamFlood {
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  socket.on("error", () => {});
  const blocks = headerBlocks({
    ":method": "POST",
    ":scheme": "http",
    ":authority": url.host,
    ":path": request.path,
    ...request.headers,
  });
  const widen = Buffer.alloc(4);
  widen.writeUInt32BE(2 ** 30);
  const frames = [http2Preface, frame(frameType.windowUpdate, 0, 0, widen)];
  for (let i = 0; i < request.count; i++) {
    const id = 1 + 2 * i;
    frames.push(
      frame(frameType.headers, flag.endHeaders, id, i === 0 ? blocks.first : blocks.next),
    );
    frames.push(frame(frameType.data, flag.endStream, id, request.body));
  }
  socket.once("connect", () => socket.write(Buffer.concat(frames)));
  const answered = new Set<number>();
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.byteLength >= 9 && pending.byteLength >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      const [type, flags] = [pending[3], pending[4] ?? 0];
      const streamId = pending.readUInt32BE(5) & 0x7fffffff;
      const payload = pending.subarray(9, 9 + length);
      pending = pending.subarray(9 + length);
      if (type === frameType.settings && (flags & flag.ack) === 0) {
        socket.write(frame(frameType.settings, flag.ack, 0, Buffer.alloc(0)));
      }
      if (type === frameType.data && payload.includes(lookFor)) answered.add(streamId);
    }
  });
  return { socket, answered: () => answered.size };
}
