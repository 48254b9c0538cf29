import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/noizylab/agent/v1/errors_pb.js";
import type { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { andThen, type MaybePromise } from "../lib/maybe-promise.js";
import type { KeyStore } from "../store/key-store.js";
import { keyFromHeaders } from "./api-keys.js";
import type { KeyManager } from "./key-manager.js";
import type { NetworkRules, Peer } from "./network-rules.js";
import { type Cancel, OpenCalls } from "./open-calls.js";
import type { RateLimit, RateLimiter } from "./rate-limiter.js";
import { type Access, accessOf, type Caller, hasScope, scopeName } from "./scopes.js";
import { isSigned, verifySignature } from "./signature-verifier.js";

type Headers = Record<string, string | string[] | undefined>;

/** DoorRequest is what the door sees of a request: never its body. */
export interface DoorRequest {
  readonly path: string;
  readonly headers: Headers;
  /** The address of the connection's far end. */
  readonly socketAddress: string;
}

/** SignedRequest is a request whose signature is checked: its path, headers and body as sent. */
export interface SignedRequest {
  /** The path its signature covers: the request's, or "/ws" for a WebSocket session. */
  readonly path: string;
  readonly headers: Headers;
  /** The body bytes exactly as received (a Connect GET's message; nothing for an upgrade). */
  readonly body: Uint8Array;
}

/** HeldCall is a kind of long-lived call a key may hold only so many of open at once. */
export type HeldCall = "stream" | "session";

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
  /** Further limits on the calls that need a scope: each key has a bucket per scope. */
  readonly scopeRateLimits?: ReadonlyMap<Scope, RateLimit> | undefined;
  /** Paths the operator opened to everyone; a trailing "*" matches a prefix. */
  readonly openPaths: readonly string[];
  /** Where signed requests' nonces are recorded, so that a replay is refused. */
  readonly nonces: Pick<KeyStore, "useNonce">;
  /** The most server streams (Run, watches, reflection) one key may hold open at once. */
  readonly maxStreamsPerKey: number;
  /** The most WebSocket sessions one key may hold open at once. */
  readonly maxSessionsPerKey: number;
}

/**
 * Door is the one admission step every way in calls (the general HTTP path, the fast path,
 * the WebSocket upgrade and each of its frames): from the path, the headers and the peer's
 * address, whether a request may be served (network rules, then the key, its scope and its
 * rate limit); its signature, where one is due; and the long-lived calls its key holds open.
 */
export interface Door {
  /** screen applies the network rules alone and returns the peer, or throws a Refusal. */
  screen(request: Omit<DoorRequest, "path">): Peer;
  /**
   * admit returns the admission, or a Refusal as a rejection. It answers at once when all it
   * needs is in memory (a key read before, a rate limit kept in memory), else with a promise.
   */
  admit(request: DoorRequest): MaybePromise<Admission>;
  /** signatureDue tells whether an admitted request's signature must be checked. */
  signatureDue(admission: Admission, headers: Headers): boolean;
  /** verify checks a request's signature (see verifySignature), or rejects with a Refusal. */
  verify(admission: Admission, request: SignedRequest): Promise<void>;
  /**
   * hold holds a long-lived call of an admitted caller open: counted against its key's cap
   * (a Refusal past it), and ended by `cancel` at once when the key is revoked (on any
   * instance) or expires. It returns the release, to call when the call ends. A caller on
   * an open path holds nothing.
   */
  hold(kind: HeldCall, admission: Admission, cancel: Cancel): () => void;
}

/** asRefusal is a Refusal as it is, or any other failure of the door as the refusal of a call from `peer` with `keyId`. */
export function asRefusal(
  error: unknown,
  peer: Peer = { ip: "", country: "" },
  keyId = "",
): Refusal {
  return error instanceof Refusal ? error : new Refusal(ConnectError.from(error), peer, keyId);
}

function rateLimited(keyId: string, peer: Peer, waitMs: number): Refusal {
  const retryDelay = { seconds: BigInt(Math.floor(waitMs / 1000)), nanos: (waitMs % 1000) * 1e6 };
  const error = new ConnectError(
    `API key ${keyId} is over its rate limit; retry in ${waitMs} ms`,
    Code.ResourceExhausted,
    undefined,
    [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay }) }],
  );
  return new Refusal(error, peer, keyId, { "retry-after": String(Math.ceil(waitMs / 1000)) });
}

/** admitted is the admission of a caller whose rate limit let it in, or its refusal. */
function admitted(caller: Caller, peer: Peer, waitMs: number): Admission {
  if (waitMs > 0) throw rateLimited(caller.keyId, peer, waitMs);
  return { caller, peer };
}

/** unreachable refuses a caller whose shared rate limit is out of reach (its database is down). */
function unreachable(caller: Caller, peer: Peer, error: unknown): Refusal {
  return new Refusal(ConnectError.from(error), peer, caller.keyId);
}

/** revokedError is what a call held open by a revoked key ends with. */
const revokedError = (keyId: string) =>
  new ConnectError(`API key ${keyId} was revoked`, Code.Unauthenticated);

/** createDoor makes the door. */
export function createDoor(options: DoorOptions): Door {
  const held: Record<HeldCall, OpenCalls> = {
    stream: new OpenCalls(options.maxStreamsPerKey, "streams"),
    session: new OpenCalls(options.maxSessionsPerKey, "sessions"),
  };
  const end = (keyId: string) => {
    for (const calls of Object.values(held)) calls.end(keyId, revokedError(keyId));
  };
  // A revocation anywhere ends the key's calls here; after revocations may have been missed,
  // every key holding calls is read anew.
  options.keys.onRevoked((keyId) => {
    if (keyId !== undefined) {
      end(keyId);
      return;
    }
    const holding = new Set(Object.values(held).flatMap((calls) => calls.keyIds()));
    for (const id of holding) {
      options.keys.isValid(id).then(
        (valid) => valid || end(id),
        () => {},
      );
    }
  });

  function screen({ headers, socketAddress }: Omit<DoorRequest, "path">): Peer {
    const peer = options.network.peerOf(socketAddress, headers);
    const blocked = options.network.refusalOf(peer);
    if (blocked) throw new Refusal(new ConnectError(blocked, Code.PermissionDenied), peer);
    return peer;
  }

  /**
   * limited checks the caller's scope for the path, then spends a token of each of its limits.
   * (Its callbacks are written in place: a named closure costs a call each under tsx.)
   */
  function limited(
    caller: Caller,
    peer: Peer,
    path: string,
    access: Exclude<Access, "open">,
  ): MaybePromise<Admission> {
    if (access !== "key" && !hasScope(caller, access)) {
      const message = `API key ${caller.keyId} lacks the ${scopeName(access)} scope that ${path} needs`;
      throw new Refusal(new ConnectError(message, Code.PermissionDenied), peer, caller.keyId);
    }
    const keyWait = options.limiter.take(
      caller.keyId,
      caller.rateLimit ?? options.defaultRateLimit,
    );
    const scopeLimit = access === "key" ? undefined : options.scopeRateLimits?.get(access);
    if (access === "key" || scopeLimit === undefined) {
      return andThen(
        keyWait,
        (waitMs) => admitted(caller, peer, waitMs),
        (error) => unreachable(caller, peer, error),
      );
    }
    const bucket = `${caller.keyId} ${scopeName(access)}`;
    return andThen(
      keyWait,
      (waitMs) =>
        andThen(
          options.limiter.take(bucket, scopeLimit),
          (scopeWaitMs) => admitted(caller, peer, Math.max(waitMs, scopeWaitMs)),
          (error) => unreachable(caller, peer, error),
        ),
      (error) => unreachable(caller, peer, error),
    );
  }

  return {
    screen,
    signatureDue: ({ caller }, headers) =>
      caller !== undefined && (caller.signing?.required === true || isSigned(headers)),
    async verify({ caller, peer }, { path, headers, body }) {
      if (caller === undefined) return;
      try {
        await verifySignature({
          caller,
          path,
          headers,
          body,
          keys: options.nonces,
          now: Math.floor(Date.now() / 1000),
        });
      } catch (error) {
        throw new Refusal(ConnectError.from(error), peer, caller.keyId);
      }
    },
    hold(kind, { caller, peer }, cancel) {
      if (caller === undefined) return () => {};
      try {
        return held[kind].hold(caller, cancel);
      } catch (error) {
        throw new Refusal(ConnectError.from(error), peer, caller.keyId);
      }
    },
    admit({ path, headers, socketAddress }) {
      try {
        const peer = screen({ headers, socketAddress });
        const access = accessOf(path, options.openPaths);
        if (access === "open") return { caller: undefined, peer };
        return andThen(
          options.keys.authenticate(keyFromHeaders(headers)),
          (caller) => limited(caller, peer, path, access),
          (error) => new Refusal(ConnectError.from(error), peer),
        );
      } catch (refusal) {
        return Promise.reject(refusal);
      }
    },
  };
}
