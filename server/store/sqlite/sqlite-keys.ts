import type Database from "better-sqlite3";
import { type KeyRow, keyColumns, keyFromRow, keyValues } from "../key-rows.js";
import { type KeyStore, nonceSweepMs, type StoredKey } from "../key-store.js";
import type { WriteBatcher } from "./write-batcher.js";

/**
 * createSqliteKeyStore keeps API keys in the api_keys table (read through a cache: only this
 * process writes the file, and it keeps the cache in step), and request nonces in
 * request_nonces. Both are written through the store's batcher: a nonce in the commit of its
 * turn, with the tasks of the calls it signs, instead of a commit of its own each (which took
 * ~150 µs of the event loop, and as much again of the log's fsync, per signed call). Until
 * that commit, the nonces used are kept in memory.
 */
export function createSqliteKeyStore(db: Database.Database, write: WriteBatcher): KeyStore {
  const insert = db.prepare(
    `INSERT INTO api_keys (${keyColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const select = db.prepare<[string], KeyRow>("SELECT * FROM api_keys WHERE key_id = ?");
  const selectAll = db.prepare<[], KeyRow>(
    "SELECT * FROM api_keys ORDER BY created_at DESC, key_id",
  );
  const revoke = db.prepare(
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
  );
  const count = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM api_keys");
  const forgetNonces = db.prepare("DELETE FROM request_nonces WHERE expires_at < ?");
  const selectNonce = db.prepare<[string, string, number], { n: number }>(
    "SELECT 1 AS n FROM request_nonces WHERE key_id = ? AND nonce = ? AND expires_at >= ?",
  );
  // The row is new, or replaces the nonce's earlier use, which has expired.
  const insertNonce = db.prepare(
    `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at`,
  );
  /** When the nonces used and not yet committed expire, by "key id:nonce" (a failed write's stay). */
  const uncommitted = new Map<string, number>();
  let lastSweep = 0;
  // Every call checks its key: the keys read so far, by id. (Unknown ids are not kept: a
  // caller sending made-up ones must not fill memory.)
  const cache = new Map<string, StoredKey>();
  const revokeListeners = new Set<(keyId: string | undefined) => void>();
  const read = (keyId: string) => {
    const row = select.get(keyId);
    const key = row && keyFromRow(row);
    if (key) cache.set(keyId, key);
    return key;
  };
  return {
    async useNonce(keyId, nonce, expiresAt) {
      const now = Date.now();
      const used = `${keyId}:${nonce}`;
      if ((uncommitted.get(used) ?? 0) >= now || selectNonce.get(keyId, nonce, now)) return false;
      uncommitted.set(used, expiresAt);
      const sweep = now - lastSweep > nonceSweepMs;
      if (sweep) lastSweep = now;
      write(
        () => {
          if (sweep) forgetNonces.run(now);
          insertNonce.run(keyId, nonce, expiresAt);
        },
        () => uncommitted.delete(used),
      ).catch(() => {
        // The nonce stays in `uncommitted`, refused while unexpired: the store's failure is for
        // the writes of the call it signed to report.
      });
      return true;
    },
    async insert(key) {
      // SQLite stores booleans as 0 and 1.
      const values = keyValues(key).map((value) =>
        typeof value === "boolean" ? Number(value) : value,
      );
      await write(() => insert.run(...values));
      cache.delete(key.keyId);
    },
    async get(keyId) {
      return cache.get(keyId) ?? read(keyId);
    },
    cached(keyId) {
      return cache.get(keyId);
    },
    async list() {
      return selectAll.all().map(keyFromRow);
    },
    async revoke(keyId, at) {
      await write(() => revoke.run(at, keyId));
      const revoked = read(keyId);
      if (revoked) for (const listener of revokeListeners) listener(keyId);
      return revoked;
    },
    onRevoke(listener) {
      revokeListeners.add(listener);
      return () => revokeListeners.delete(listener);
    },
    async count() {
      return (count.get() as { n: number }).n;
    },
  };
}
