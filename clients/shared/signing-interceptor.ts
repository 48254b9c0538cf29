import { type DescMessage, type Message, toBinary, toJsonString } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { parseKey } from "./api-key.js";
import {
  deriveSigningKey,
  newNonce,
  type RequestSigner,
  signatureHeaders,
  webCryptoSigner,
} from "./request-signing.js";

/** SigningOptions say how the transport will put messages on the wire, so the exact bytes can be signed. */
export interface SigningOptions {
  /** The API key, "ca_<key id>_<secret>". */
  readonly apiKey: string;
  /** "connect", "grpc" or "grpc-web". */
  readonly protocol: string;
  /** Whether messages travel as JSON (Connect and gRPC-Web only). */
  readonly json: boolean;
  /** How the signature is computed: webCryptoSigner unless given. */
  readonly signer?: RequestSigner | undefined;
}

const encoder = new TextEncoder();

// gRPC, gRPC-Web and Connect streams frame each message: a flags byte, then a 4-byte length.
function envelope(bytes: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + bytes.byteLength);
  new DataView(framed.buffer).setUint32(1, bytes.byteLength);
  framed.set(bytes, 5);
  return framed;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * createSigningInterceptor signs every request (see docs/security.md): it serializes the
 * request message(s) exactly as the transport will (uncompressed, with the envelope the
 * protocol uses), hashes those bytes, and adds the signature headers.
 */
export function createSigningInterceptor(options: SigningOptions): Interceptor {
  const parsed = parseKey(options.apiKey);
  if (!parsed) throw new Error("the API key is not of the form ca_<key id>_<secret>");
  const { keyId } = parsed;
  const signingKey = deriveSigningKey(parsed.secret);
  const signer = options.signer ?? webCryptoSigner;
  return (next) => async (request) => {
    const schema = request.method.input as DescMessage;
    const messages: Message[] = [];
    if (request.stream)
      for await (const message of request.message) messages.push(message as Message);
    else messages.push(request.message as Message);
    const enveloped = options.protocol !== "connect" || request.method.methodKind !== "unary";
    const body = concat(
      messages.map((message) => {
        const bytes = options.json
          ? encoder.encode(toJsonString(schema, message))
          : toBinary(schema, message);
        return enveloped ? envelope(bytes) : bytes;
      }),
    );
    const fields = {
      keyId,
      timestamp: Math.floor(Date.now() / 1000),
      nonce: newNonce(),
      path: new URL(request.url).pathname,
    };
    request.header.set(signatureHeaders.keyId, fields.keyId);
    request.header.set(signatureHeaders.timestamp, String(fields.timestamp));
    request.header.set(signatureHeaders.nonce, fields.nonce);
    request.header.set(signatureHeaders.signature, await signer(await signingKey, fields, body));
    if (!request.stream) return next(request);
    return next({
      ...request,
      message: (async function* () {
        yield* messages;
      })(),
    } as typeof request);
  };
}
