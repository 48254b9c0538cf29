// Request signing (see docs/security.md), on WebCrypto so that Node and browsers share it.

/** The headers a signed request carries. */
export const signatureHeaders = {
  keyId: "x-ca-key-id",
  timestamp: "x-ca-timestamp",
  nonce: "x-ca-nonce",
  signature: "x-ca-signature",
} as const;

/** The first line of every string to sign: the scheme and its version. */
export const signatureScheme = "CA1-HMAC-SHA256";

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const imported = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, data as BufferSource));
}

/** deriveSigningKey is HMAC-SHA256(secret, "cloudagent-signing-v1"): the key requests are signed with. */
export function deriveSigningKey(secret: string): Promise<Uint8Array> {
  return hmac(encoder.encode(secret), encoder.encode("cloudagent-signing-v1"));
}

/** sha256Hex is the lowercase hex SHA-256 of bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

/** SignedFields are what a signature covers, besides the body's hash. */
export interface SignedFields {
  readonly keyId: string;
  /** Unix time in whole seconds. */
  readonly timestamp: number;
  readonly nonce: string;
  /** The request path, for example "/noizylab.agent.v1.TaskService/Submit". */
  readonly path: string;
  /** The lowercase hex SHA-256 of the body bytes exactly as sent. */
  readonly bodySha256: string;
}

/** stringToSign joins the scheme and the fields, one per line. */
export function stringToSign(fields: SignedFields): string {
  return [
    signatureScheme,
    fields.keyId,
    String(fields.timestamp),
    fields.nonce,
    fields.path,
    fields.bodySha256,
  ].join("\n");
}

/** signFields is the lowercase hex HMAC-SHA256 of the string to sign under the signing key. */
export async function signFields(signingKey: Uint8Array, fields: SignedFields): Promise<string> {
  return hex(await hmac(signingKey, encoder.encode(stringToSign(fields))));
}

/**
 * RequestSigner computes the signature over a request's fields and its body as sent: the
 * signature of signFields over the body's sha256Hex.
 */
export type RequestSigner = (
  signingKey: Uint8Array,
  fields: Omit<SignedFields, "bodySha256">,
  body: Uint8Array,
) => string | Promise<string>;

/** webCryptoSigner signs on WebCrypto, which browsers and Node both have. */
export const webCryptoSigner: RequestSigner = async (signingKey, fields, body) =>
  signFields(signingKey, { ...fields, bodySha256: await sha256Hex(body) });

/** newNonce is 16 random bytes in base64url: unique per request. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
