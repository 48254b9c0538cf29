import { readFileSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { unmapped } from "../security/network-rules.js";

/**
 * openFileLimit is the process's soft limit on open files, read from /proc/self/limits on
 * Linux; undefined where it cannot be read.
 */
export function openFileLimit(
  read: () => string = () => readFileSync("/proc/self/limits", "utf8"),
): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(read());
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

// Without a readable file limit, the cap assumes the common default of 1,024.
const assumedFileLimit = 1_024;

/**
 * connectionCapOf is the most connections a server may hold: the configured number, or four
 * fifths of the open-file limit when none is configured (0), so database files, worker
 * threads and outgoing requests keep room. A configured number above that is lowered to it.
 */
export function connectionCapOf(configured: number, fileLimit: number | undefined): number {
  const room = Math.max(1, Math.floor((fileLimit ?? assumedFileLimit) * 0.8));
  return configured === 0 ? room : Math.min(configured, room);
}

/** ConnectionCapsOptions bound the connections of one server. */
export interface ConnectionCapsOptions {
  /** The most connections in all. */
  readonly maxConnections: number;
  /** The most connections from one address. */
  readonly maxConnectionsPerAddress: number;
  /** Addresses with no cap of their own (trusted proxies, which carry many clients). */
  readonly uncapped?: ((address: string) => boolean) | undefined;
}

/**
 * capConnections holds a server to its caps: past the total, Node refuses connections before
 * they reach JavaScript (net.Server#maxConnections); past an address's share, the connection
 * is reset as it arrives, before any byte of it is read.
 */
export function capConnections(server: Server, options: ConnectionCapsOptions): void {
  server.maxConnections = options.maxConnections;
  const perAddress = new Map<string, number>();
  // First among the server's listeners: a TLS server's own starts the handshake.
  server.prependListener("connection", (socket: Socket) => {
    const address = unmapped(socket.remoteAddress ?? "");
    if (options.uncapped?.(address)) return;
    const open = perAddress.get(address) ?? 0;
    if (open >= options.maxConnectionsPerAddress) {
      socket.resetAndDestroy();
      return;
    }
    perAddress.set(address, open + 1);
    socket.once("close", () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left === 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
}
