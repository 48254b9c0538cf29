import type { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { StoredKey } from "./key-store.js";

/** KeyRow is a row of the api_keys table, in every store engine. */
export interface KeyRow {
  key_id: string;
  name: string;
  scopes: string;
  secret_hash: Uint8Array;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  rate_per_second: number | null;
  rate_burst: number | null;
  signing_key: Uint8Array;
  /** 0 or 1 in SQLite, a boolean in PostgreSQL. */
  require_signature: number | boolean;
}

/** keyFromRow reads a key from its row. */
export function keyFromRow(row: KeyRow): StoredKey {
  return {
    keyId: row.key_id,
    name: row.name,
    scopes: row.scopes === "" ? [] : (row.scopes.split(",").map(Number) as Scope[]),
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    rateLimit:
      row.rate_per_second === null || row.rate_burst === null
        ? null
        : { perSecond: row.rate_per_second, burst: row.rate_burst },
    signingKey: row.signing_key,
    requireSignature: Boolean(row.require_signature),
  };
}

/** The columns of the api_keys table, in the order keyValues gives them. */
export const keyColumns =
  "key_id, name, scopes, secret_hash, created_at, expires_at, revoked_at, rate_per_second, rate_burst, signing_key, require_signature";

/** keyValues writes a key as its row's values, in keyColumns' order. */
export function keyValues(key: StoredKey): unknown[] {
  return [
    key.keyId,
    key.name,
    key.scopes.join(","),
    key.secretHash,
    key.createdAt,
    key.expiresAt,
    key.revokedAt,
    key.rateLimit?.perSecond ?? null,
    key.rateLimit?.burst ?? null,
    key.signingKey,
    key.requireSignature,
  ];
}
