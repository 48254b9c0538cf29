import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { nodeSigner } from "../../clients/node/node-signer.js";
import { signatureHeaders } from "../../clients/shared/request-signing.js";
import type { KeyStore } from "../store/key-store.js";
import type { Caller } from "./scopes.js";

/** The clock skew a signature's timestamp may have, either way. */
export const maxSkewSeconds = 300;

type Headers = Record<string, string | string[] | undefined>;

const header = (headers: Headers, name: string) => {
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
};

/** isSigned tells whether a request carries a signature. */
export function isSigned(headers: Headers): boolean {
  return header(headers, signatureHeaders.signature) !== undefined;
}

const refuse = (message: string) =>
  new ConnectError(`bad request signature: ${message}`, Code.Unauthenticated);

/** VerifyOptions are a signed request as received. */
export interface VerifyOptions {
  readonly caller: Caller;
  readonly path: string;
  readonly headers: Headers;
  /** The body bytes exactly as received: never a re-serialization of the parsed message. */
  readonly body: Uint8Array;
  /** Where seen nonces are recorded, so a replay within the window is refused. */
  readonly keys: Pick<KeyStore, "useNonce">;
  /** Unix time in seconds. */
  readonly now: number;
}

/**
 * verifySignature checks a request's signature (see docs/security.md): the key id, a
 * timestamp within five minutes, a fresh nonce, and the HMAC over the path and the body's
 * SHA-256, compared in constant time. It throws Unauthenticated naming what is wrong.
 */
export async function verifySignature(options: VerifyOptions): Promise<void> {
  const { caller, headers } = options;
  const signing = caller.signing;
  if (signing === undefined) throw refuse("the key cannot sign");
  const keyId = header(headers, signatureHeaders.keyId);
  const timestamp = header(headers, signatureHeaders.timestamp);
  const nonce = header(headers, signatureHeaders.nonce);
  const signature = header(headers, signatureHeaders.signature);
  if (signature === undefined)
    throw refuse(`the key requires signed requests; ${signatureHeaders.signature} is missing`);
  if (keyId !== caller.keyId)
    throw refuse(`${signatureHeaders.keyId} does not name the key the request carries`);
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp))
    throw refuse(`${signatureHeaders.timestamp} must be Unix seconds`);
  if (Math.abs(options.now - Number(timestamp)) > maxSkewSeconds) {
    throw refuse(`the timestamp is more than ${maxSkewSeconds} s from the server's clock`);
  }
  if (nonce === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
    throw refuse(`${signatureHeaders.nonce} must be 16 to 64 characters of A-Z, a-z, 0-9, - and _`);
  }
  if (!/^[0-9a-f]{64}$/.test(signature))
    throw refuse(`${signatureHeaders.signature} must be 64 lowercase hex digits`);
  // On node:crypto, at once (see nodeSigner): on WebCrypto a check waited ~20 ms for libuv's
  // thread pool under 32 concurrent signed calls.
  const expected = nodeSigner(
    signing.key,
    { keyId, timestamp: Number(timestamp), nonce, path: options.path },
    options.body,
  );
  if (!timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(signature, "hex"))) {
    throw refuse("the signature does not match the request");
  }
  // Only a valid signature spends its nonce, so a forger cannot burn another's nonces.
  if (!(await options.keys.useNonce(keyId, nonce, (options.now + 2 * maxSkewSeconds) * 1000))) {
    throw refuse("the nonce was already used: a replayed request");
  }
}

/**
 * connectGetMessage is the message a Connect GET carries in its query (`message`, in
 * base64url when `base64=1`): the bytes a POST of the same call would carry as its body, and
 * so the bytes its signature covers.
 */
export function connectGetMessage(target: string): Uint8Array {
  const query = new URL(target, "http://localhost").searchParams;
  const message = query.get("message") ?? "";
  return query.get("base64") === "1"
    ? Buffer.from(message, "base64url")
    : Buffer.from(message, "utf8");
}
