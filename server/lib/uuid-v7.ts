import { randomFillSync } from "node:crypto";

let lastMs = 0;
let counter = 0;

// Random bytes are drawn 4 KiB at a time, as crypto.randomUUID does: a draw per id costs more
// than the rest of making it.
const pool = Buffer.alloc(4096);
let used = pool.length;

/** random copies the next `length` bytes of the pool into a new buffer. */
function random(length: number): Buffer {
  if (used + length > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = Buffer.allocUnsafe(length);
  pool.copy(bytes, 0, used, used + length);
  used += length;
  return bytes;
}

/**
 * uuidV7 returns a version 7 UUID (RFC 9562). Within one process they strictly increase,
 * even within one millisecond: the 12-bit rand_a field is a counter (method 1 of the RFC),
 * and when it runs out the timestamp moves on by a millisecond.
 */
export function uuidV7(): string {
  let ms = Date.now();
  const bytes = random(16);
  if (ms > lastMs) {
    lastMs = ms;
    // Start low in the counter's range, so many ids fit in one millisecond.
    counter = bytes[6] as number;
  } else {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      ms = ++lastMs;
      counter = 0;
    }
  }
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
