import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseKey } from "../../clients/shared/api-key.js";
import { deriveSigningKey } from "../../clients/shared/request-signing.js";
import { type KeyInfo, KeyInfoSchema, Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { MaybePromise } from "../lib/maybe-promise.js";
import type { KeyStore, StoredKey } from "../store/key-store.js";
import { invalidField } from "../tasks/task-errors.js";
import { generateKey, secretMatches } from "./api-keys.js";
import type { RateLimit } from "./rate-limiter.js";
import type { Caller } from "./scopes.js";

/** infoOf describes a stored key for callers: everything but the hash. */
export function infoOf(key: StoredKey): KeyInfo {
  return create(KeyInfoSchema, {
    keyId: key.keyId,
    name: key.name,
    scopes: [...key.scopes],
    createdAt: timestampFromMs(key.createdAt),
    expiresAt: key.expiresAt === null ? undefined : timestampFromMs(key.expiresAt),
    revokedAt: key.revokedAt === null ? undefined : timestampFromMs(key.revokedAt),
    rateLimit: key.rateLimit ?? undefined,
    requireSignature: key.requireSignature,
  });
}

/** NewKeyRequest describes a key to make. */
export interface NewKeyRequest {
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** Milliseconds since the epoch; undefined for never. */
  readonly expiresAt?: number | undefined;
  /** Undefined for the server's default. */
  readonly rateLimit?: RateLimit | undefined;
  /** Whether every request with the key must be signed. */
  readonly requireSignature?: boolean | undefined;
}

/** KeyManager makes, checks and revokes API keys. */
export interface KeyManager {
  /** create makes a key and returns it with its description; the key is never readable again. */
  create(request: NewKeyRequest): Promise<{ key: string; info: KeyInfo }>;
  list(): Promise<KeyInfo[]>;
  revoke(keyId: string): Promise<KeyInfo>;
  /**
   * authenticate checks a key and returns its caller: at once when the store holds the key in
   * memory, else once it is read. A missing, malformed, unknown, revoked or expired key is
   * Unauthenticated (a rejection); the error names the key id when there is one.
   */
  authenticate(key: string | undefined): MaybePromise<Caller>;
  /**
   * onRevoked calls listener with each key revoked from now on, on any instance; with
   * undefined when revocations may have been missed (see KeyStore.onRevoke).
   */
  onRevoked(listener: (keyId: string | undefined) => void): () => void;
  /** isValid reads a key anew and tells whether it may still be used: not revoked, not expired. */
  isValid(keyId: string): Promise<boolean>;
  /**
   * bootstrap makes an admin key when there is none at all, writes it to <dataDir>/admin.key
   * (mode 0600) and returns that path; undefined when keys already exist.
   */
  bootstrap(dataDir: string): Promise<string | undefined>;
}

/** checkRateLimit refuses a key's rate limit that would not limit: none is unlimited. */
function checkRateLimit({ perSecond, burst }: RateLimit): void {
  if (!Number.isFinite(perSecond) || perSecond <= 0 || perSecond > maxRatePerSecond) {
    throw invalidField(
      "rate_limit.per_second",
      `must be more than 0 and at most ${maxRatePerSecond}, got ${perSecond}`,
    );
  }
  if (!Number.isInteger(burst) || burst < 1 || burst > maxRatePerSecond) {
    throw invalidField("rate_limit.burst", `must be 1 to ${maxRatePerSecond}, got ${burst}`);
  }
}

/** How many checked keys are remembered at most. */
const maxCheckedKeys = 10_000;

/** The highest rate and burst a key may be given (the server's own settings allow as much). */
const maxRatePerSecond = 1_000_000;

const unauthenticated = (message: string) => new ConnectError(message, Code.Unauthenticated);

/** createKeyManager works on the store's keys. */
export function createKeyManager(keys: KeyStore): KeyManager {
  async function create({ name, scopes, expiresAt, rateLimit, requireSignature }: NewKeyRequest) {
    if (name.length < 1 || name.length > 100)
      throw invalidField("name", "must be 1 to 100 characters");
    if (scopes.length === 0) throw invalidField("scopes", "name at least one scope");
    if (scopes.some((scope) => Scope[scope] === undefined || scope === Scope.UNSPECIFIED)) {
      throw invalidField("scopes", "holds a value that is not a scope");
    }
    if (expiresAt !== undefined && expiresAt <= Date.now())
      throw invalidField("expires_at", "must be in the future");
    if (rateLimit !== undefined) checkRateLimit(rateLimit);
    const made = generateKey();
    const stored: StoredKey = {
      keyId: made.keyId,
      name,
      scopes: [...new Set(scopes)],
      secretHash: made.secretHash,
      createdAt: Date.now(),
      expiresAt: expiresAt ?? null,
      revokedAt: null,
      rateLimit: rateLimit ? { perSecond: rateLimit.perSecond, burst: rateLimit.burst } : null,
      signingKey: await deriveSigningKey(made.secret),
      requireSignature: requireSignature ?? false,
    };
    await keys.insert(stored);
    return { key: made.key, info: infoOf(stored) };
  }

  // Every call presents its key: keys whose secret was checked against a stored hash, and
  // the caller of each stored key, are remembered (a key's row read anew is checked anew).
  const checked = new Map<string, Uint8Array>();
  const callers = new WeakMap<StoredKey, Caller>();
  function matches(key: string, secret: string, stored: StoredKey): boolean {
    if (checked.get(key) === stored.secretHash) return true;
    if (!secretMatches(secret, stored.secretHash)) return false;
    if (checked.size >= maxCheckedKeys) checked.clear();
    checked.set(key, stored.secretHash);
    return true;
  }

  /** callerOf is the caller of a key whose stored row was found (or not), or throws why not. */
  function callerOf(key: string, secret: string, stored: StoredKey | undefined): Caller {
    if (stored === undefined || !matches(key, secret, stored)) {
      throw unauthenticated("unknown API key");
    }
    if (stored.revokedAt !== null) throw unauthenticated(`API key ${stored.keyId} was revoked`);
    if (stored.expiresAt !== null && stored.expiresAt <= Date.now()) {
      throw unauthenticated(
        `API key ${stored.keyId} expired at ${new Date(stored.expiresAt).toISOString()}`,
      );
    }
    let caller = callers.get(stored);
    if (caller === undefined) {
      caller = {
        keyId: stored.keyId,
        scopes: new Set(stored.scopes),
        rateLimit: stored.rateLimit ?? undefined,
        signing: { key: stored.signingKey, required: stored.requireSignature },
        expiresAt: stored.expiresAt ?? undefined,
      };
      callers.set(stored, caller);
    }
    return caller;
  }

  return {
    create,
    async list() {
      return (await keys.list()).map(infoOf);
    },
    async revoke(keyId) {
      const revoked = await keys.revoke(keyId, Date.now());
      if (revoked === undefined) throw new ConnectError(`key ${keyId} not found`, Code.NotFound);
      return infoOf(revoked);
    },
    onRevoked: (listener) => keys.onRevoke(listener),
    async isValid(keyId) {
      const stored = await keys.get(keyId);
      return (
        stored !== undefined &&
        stored.revokedAt === null &&
        (stored.expiresAt === null || stored.expiresAt > Date.now())
      );
    },
    authenticate(key) {
      if (key === undefined || key === "") {
        return Promise.reject(
          unauthenticated(
            'missing API key: send "authorization: Bearer <key>" or "x-api-key: <key>"',
          ),
        );
      }
      const parsed = parseKey(key);
      if (parsed === undefined) return Promise.reject(unauthenticated("unknown API key"));
      const cached = keys.cached(parsed.keyId);
      if (cached === undefined) {
        return keys.get(parsed.keyId).then((stored) => callerOf(key, parsed.secret, stored));
      }
      try {
        return callerOf(key, parsed.secret, cached);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    async bootstrap(dataDir) {
      if ((await keys.count()) > 0) return undefined;
      const { key } = await create({ name: "admin (made at first start)", scopes: [Scope.ADMIN] });
      const path = join(dataDir, "admin.key");
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(path, `${key}\n`, { mode: 0o600 });
      return path;
    },
  };
}
