import type { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { RateLimit } from "../security/rate-limiter.js";

/** StoredKey is an API key as the store keeps it: never the secret, only its hash. */
export interface StoredKey {
  readonly keyId: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** SHA-256 of the key's secret part. */
  readonly secretHash: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  /** The key's own rate limit; null for the server's default. */
  readonly rateLimit: RateLimit | null;
  /** The HMAC key requests signed with this key are checked with (see docs/security.md). */
  readonly signingKey: Uint8Array;
  /** Whether every request with this key must be signed. */
  readonly requireSignature: boolean;
}

/** How often, at most, useNonce also deletes expired nonces (an indexed delete). */
export const nonceSweepMs = 10_000;

/** KeyStore keeps the API keys. */
export interface KeyStore {
  /** insert adds a key. */
  insert(key: StoredKey): Promise<void>;
  /** get returns a key by id, or undefined. */
  get(keyId: string): Promise<StoredKey | undefined>;
  /**
   * cached returns a key by id as get last found it, when it is still held in memory (every
   * request reads its key: the stores keep those they found, and keep them true); else
   * undefined, and get must read it.
   */
  cached(keyId: string): StoredKey | undefined;
  /** list returns every key, newest first. */
  list(): Promise<StoredKey[]>;
  /** revoke marks a key revoked at a time (unless it already is) and returns it. */
  revoke(keyId: string, at: number): Promise<StoredKey | undefined>;
  /**
   * onRevoke calls listener with each key revoked from now on, by this instance or another
   * sharing the store; with undefined when revocations may have been missed (the shared
   * store's feed was down), so any key may be revoked. Returns the unsubscribe.
   */
  onRevoke(listener: (keyId: string | undefined) => void): () => void;
  /** count is the number of keys, revoked ones included. */
  count(): Promise<number>;
  /**
   * useNonce records a request nonce of a key until a time; false when it was already
   * recorded and has not expired (a replay). Expired nonces are forgotten, every
   * nonceSweepMs at most.
   */
  useNonce(keyId: string, nonce: string, expiresAt: number): Promise<boolean>;
}
