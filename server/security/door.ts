import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/noizylab/agent/v1/errors_pb.js";
import { keyFromHeaders } from "./api-keys.js";
import type { KeyManager } from "./key-manager.js";
import type { NetworkRules, Peer } from "./network-rules.js";
import type { RateLimit, RateLimiter } from "./rate-limiter.js";
import { accessOf, type Caller, hasScope, scopeName } from "./scopes.js";

/** DoorRequest is what the door sees of a request: never its body. */
export interface DoorRequest {
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The address of the connection's far end. */
  readonly socketAddress: string;
}

/** Admission is the door's answer: who the caller is (undefined on an open path), and from where. */
export interface Admission {
  readonly caller: Caller | undefined;
  readonly peer: Peer;
}

/** Refusal is a request turned away: the error to answer, and what the audit row needs. */
export class Refusal extends Error {
  constructor(
    readonly error: ConnectError,
    readonly peer: Peer,
    readonly keyId = "",
    /** Extra response headers, such as retry-after. */
    readonly headers: Record<string, string> = {},
  ) {
    super(error.rawMessage);
  }
}

/** DoorOptions configure who may come in. */
export interface DoorOptions {
  readonly keys: KeyManager;
  readonly network: NetworkRules;
  readonly limiter: RateLimiter;
  /** The rate limit of keys that have none of their own. */
  readonly defaultRateLimit: RateLimit;
  /** Paths the operator opened to everyone; a trailing "*" matches a prefix. */
  readonly openPaths: readonly string[];
}

/**
 * Door decides, from the path, the headers and the peer's address alone, whether a request
 * may be served: network rules, then the key, its scope, and its rate limit.
 */
export interface Door {
  /** admit returns the admission, or throws a Refusal. */
  admit(request: DoorRequest): Promise<Admission>;
}

/** createDoor makes the door. */
export function createDoor(options: DoorOptions): Door {
  return {
    async admit({ path, headers, socketAddress }) {
      const peer = options.network.peerOf(socketAddress, headers);
      const blocked = options.network.refusalOf(peer);
      if (blocked) throw new Refusal(new ConnectError(blocked, Code.PermissionDenied), peer);
      const access = accessOf(path, options.openPaths);
      if (access === "open") return { caller: undefined, peer };
      let caller: Caller;
      try {
        caller = await options.keys.authenticate(keyFromHeaders(headers));
      } catch (error) {
        throw new Refusal(ConnectError.from(error), peer);
      }
      if (access !== "key" && !hasScope(caller, access)) {
        const message = `API key ${caller.keyId} lacks the ${scopeName(access)} scope that ${path} needs`;
        throw new Refusal(new ConnectError(message, Code.PermissionDenied), peer, caller.keyId);
      }
      const waitMs = options.limiter.take(
        caller.keyId,
        caller.rateLimit ?? options.defaultRateLimit,
      );
      if (waitMs > 0) {
        const error = new ConnectError(
          `API key ${caller.keyId} is over its rate limit; retry in ${waitMs} ms`,
          Code.ResourceExhausted,
          undefined,
          [
            {
              desc: RetryInfoSchema,
              value: create(RetryInfoSchema, {
                retryDelay: {
                  seconds: BigInt(Math.floor(waitMs / 1000)),
                  nanos: (waitMs % 1000) * 1e6,
                },
              }),
            },
          ],
        );
        throw new Refusal(error, peer, caller.keyId, {
          "retry-after": String(Math.ceil(waitMs / 1000)),
        });
      }
      return { caller, peer };
    },
  };
}
