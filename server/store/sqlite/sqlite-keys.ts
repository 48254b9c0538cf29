import type Database from "better-sqlite3";
import { type KeyRow, keyColumns, keyFromRow, keyValues } from "../key-rows.js";
import type { KeyStore, StoredKey } from "../key-store.js";
import type { WriteBatcher } from "./write-batcher.js";

/**
 * createSqliteKeyStore keeps API keys in the api_keys table (read through a cache: only this
 * process writes the file, and it keeps the cache in step), and request nonces in
 * request_nonces through nonceDb: a connection to the same file with synchronous=NORMAL, so
 * recording a nonce costs no fsync (a power cut may forget nonces of the last moments; a crash
 * of the process does not). Keys are written through the store's batcher, durably.
 */
export function createSqliteKeyStore(
  db: Database.Database,
  nonceDb: Database.Database,
  write: WriteBatcher,
): KeyStore {
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
  const forgetNonces = nonceDb.prepare("DELETE FROM request_nonces WHERE expires_at < ?");
  const insertNonce = nonceDb.prepare(
    "INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
  );
  const useNonce = nonceDb.transaction((keyId: string, nonce: string, expiresAt: number) => {
    forgetNonces.run(Date.now());
    return insertNonce.run(keyId, nonce, expiresAt).changes === 1;
  });
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
      return useNonce.immediate(keyId, nonce, expiresAt);
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
