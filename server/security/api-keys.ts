import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// The secret of a key (see parseKey) is never stored, only its SHA-256.

/** NewKey is a freshly made key: the full key to hand out once, its id and its secret's hash. */
export interface NewKey {
  readonly key: string;
  readonly keyId: string;
  /** The secret part; the caller derives the signing key from it, then forgets it. */
  readonly secret: string;
  readonly secretHash: Buffer;
}

function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** generateKey makes a new random key. */
export function generateKey(): NewKey {
  const keyId = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { key: `ca_${keyId}_${secret}`, keyId, secret, secretHash: hashSecret(secret) };
}

/** secretMatches compares a secret with a stored hash in constant time. */
export function secretMatches(secret: string, secretHash: Uint8Array): boolean {
  const hash = hashSecret(secret);
  return hash.byteLength === secretHash.byteLength && timingSafeEqual(hash, secretHash);
}

/** keyFromHeaders reads a key from "authorization: Bearer <key>" or "x-api-key: <key>". */
export function keyFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === "string" && /^bearer /i.test(authorization)) {
    return authorization.slice(7).trim();
  }
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" ? apiKey.trim() : undefined;
}
