import { type KeyRow, keyColumns, keyFromRow, keyValues } from "../key-rows.js";
import { type KeyStore, nonceSweepMs, type StoredKey } from "../key-store.js";
import type { PgDatabase } from "./pg-database.js";

/** The NOTIFY channel that tells every instance which key was revoked. */
export const keyChannel = "cloudagent_keys";

/** PgKeyStore is the key store in PostgreSQL, with a cache other instances keep true. */
export interface PgKeyStore extends KeyStore {
  /**
   * revoked hears that a key was revoked (by any instance): it drops the key from the cache
   * and tells onRevoke's listeners; every key, when none is named (the feed was down).
   */
  revoked(keyId?: string): void;
}

/**
 * createPgKeyStore keeps API keys in the api_keys table and request nonces in the unlogged
 * request_nonces table, so every instance sees every key and every nonce already used.
 * Keys are read on every request, so the keys found are cached: a revocation announces the
 * key on keyChannel, and every instance forgets it (all keys, after its feed was down).
 */
export function createPgKeyStore(db: PgDatabase): PgKeyStore {
  let lastSweep = 0;
  const cache = new Map<string, StoredKey>();
  const revokeListeners = new Set<(keyId: string | undefined) => void>();
  return {
    revoked(keyId) {
      if (keyId === undefined) cache.clear();
      else cache.delete(keyId);
      for (const listener of revokeListeners) listener(keyId);
    },
    onRevoke(listener) {
      revokeListeners.add(listener);
      return () => revokeListeners.delete(listener);
    },
    async insert(key) {
      await db.query(
        `INSERT INTO api_keys (${keyColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        keyValues(key),
      );
    },
    cached(keyId) {
      return cache.get(keyId);
    },
    async get(keyId) {
      const cached = cache.get(keyId);
      if (cached) return cached;
      const [row] = await db.query<KeyRow>("SELECT * FROM api_keys WHERE key_id = $1", [keyId]);
      const key = row && keyFromRow(row);
      if (key) cache.set(keyId, key);
      return key;
    },
    async list() {
      const rows = await db.query<KeyRow>(
        "SELECT * FROM api_keys ORDER BY created_at DESC, key_id",
      );
      return rows.map(keyFromRow);
    },
    async revoke(keyId, at) {
      const [row] = await db.query<KeyRow>(
        `WITH revoked AS (
           UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE key_id = $2 RETURNING *
         )
         SELECT revoked.*, pg_notify($3, key_id) FROM revoked`,
        [at, keyId, keyChannel],
      );
      cache.delete(keyId);
      // This instance's own notification is heard like another's, which tells the listeners.
      return row && keyFromRow(row);
    },
    async count() {
      const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM api_keys");
      return row?.n ?? 0;
    },
    async useNonce(keyId, nonce, expiresAt) {
      const now = Date.now();
      if (now - lastSweep > nonceSweepMs) {
        lastSweep = now;
        await db.query("DELETE FROM request_nonces WHERE expires_at < $1", [now]);
      }
      // A row comes back when the nonce is new, or when its earlier use has expired.
      const rows = await db.query(
        `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
           WHERE request_nonces.expires_at < $4
         RETURNING 1`,
        [keyId, nonce, expiresAt, now],
      );
      return rows.length === 1;
    },
  };
}
