import type { Interceptor } from "@connectrpc/connect";
import type { RequestSigner } from "./request-signing.js";
import { createSigningInterceptor } from "./signing-interceptor.js";

/** KeyInterceptorOptions are how a client presents its key, and how its transport writes messages. */
export interface KeyInterceptorOptions {
  readonly apiKey?: string | undefined;
  /** Also sign every request (see docs/security.md). */
  readonly sign?: boolean | undefined;
  /** "connect", "grpc" or "grpc-web". */
  readonly protocol: string;
  /** Whether messages travel as JSON (Connect and gRPC-Web only). */
  readonly json: boolean;
  /** How signatures are computed: on WebCrypto unless given. */
  readonly signer?: RequestSigner | undefined;
}

/**
 * withKey wraps a client's own interceptors: the key goes outermost as a bearer header, and the
 * signature innermost, so it signs the message exactly as it goes on the wire.
 */
export function withKey(
  options: KeyInterceptorOptions,
  interceptors: readonly Interceptor[] = [],
): Interceptor[] {
  const { apiKey } = options;
  if (!apiKey) return [...interceptors];
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${apiKey}`);
    return next(request);
  };
  const signing = options.sign
    ? [
        createSigningInterceptor({
          apiKey,
          protocol: options.protocol,
          json: options.json,
          signer: options.signer,
        }),
      ]
    : [];
  return [bearer, ...interceptors, ...signing];
}
