import { createHash, createHmac } from "node:crypto";
import { type SignedFields, stringToSign } from "../shared/request-signing.js";

/**
 * nodeSigner is the RequestSigner on node:crypto, answering at once: WebCrypto answers each
 * digest and HMAC through libuv's thread pool, at some 30 times the cost of the signature
 * itself (~5 µs), and a signed call waits its turn there behind the pool's other work.
 */
export function nodeSigner(
  signingKey: Uint8Array,
  fields: Omit<SignedFields, "bodySha256">,
  body: Uint8Array,
): string {
  const bodySha256 = createHash("sha256").update(body).digest("hex");
  return createHmac("sha256", signingKey)
    .update(stringToSign({ ...fields, bodySha256 }))
    .digest("hex");
}
