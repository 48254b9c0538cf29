import { Code, ConnectError } from "@connectrpc/connect";
import type { Caller } from "./scopes.js";

/** Cancel ends a call held open, with the reason to give its caller. */
export type Cancel = (reason: ConnectError) => void;

// setTimeout takes at most 2^31 - 1 ms (~24.8 days); a later expiry is looked at again then.
const maxTimerMs = 2 ** 31 - 1;

/**
 * OpenCalls counts the long-lived calls (server streams, WebSocket sessions) each API key
 * holds open, holds each key to its cap, and ends them all, at once, when the key expires or
 * is revoked.
 */
export class OpenCalls {
  private readonly byKey = new Map<string, Set<Cancel>>();
  private readonly expiries = new Map<string, NodeJS.Timeout>();

  /** `what` names the calls in refusals, in the plural: "streams", "sessions". */
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  /**
   * hold counts one more open call of a caller, ended by `cancel` when its key expires or is
   * revoked; it returns the release, to call when the call ends. Past the key's cap it throws
   * ResourceExhausted.
   */
  hold(caller: Caller, cancel: Cancel): () => void {
    const { keyId } = caller;
    let calls = this.byKey.get(keyId);
    if ((calls?.size ?? 0) >= this.limit) {
      throw new ConnectError(
        `API key ${keyId} has ${this.limit} ${this.what} open, the most it may: close one first`,
        Code.ResourceExhausted,
      );
    }
    if (calls === undefined) {
      calls = new Set();
      this.byKey.set(keyId, calls);
    }
    // Each hold is its own entry, even with the same function.
    const entry: Cancel = (reason) => cancel(reason);
    calls.add(entry);
    if (caller.expiresAt !== undefined) this.endAtExpiry(keyId, caller.expiresAt);
    return () => this.release(keyId, entry);
  }

  /** end cancels every call a key holds open. */
  end(keyId: string, reason: ConnectError): void {
    const calls = this.byKey.get(keyId);
    if (calls === undefined) return;
    this.forget(keyId);
    for (const cancel of calls) cancel(reason);
  }

  /** The keys holding calls open now. */
  keyIds(): string[] {
    return [...this.byKey.keys()];
  }

  private release(keyId: string, entry: Cancel): void {
    const calls = this.byKey.get(keyId);
    if (calls?.delete(entry) && calls.size === 0) this.forget(keyId);
  }

  private forget(keyId: string): void {
    this.byKey.delete(keyId);
    clearTimeout(this.expiries.get(keyId));
    this.expiries.delete(keyId);
  }

  private endAtExpiry(keyId: string, expiresAt: number): void {
    if (this.expiries.has(keyId)) return;
    const wait = expiresAt - Date.now();
    const timer = setTimeout(
      () => {
        this.expiries.delete(keyId);
        if (Date.now() < expiresAt) {
          this.endAtExpiry(keyId, expiresAt);
          return;
        }
        const expired = `API key ${keyId} expired at ${new Date(expiresAt).toISOString()}`;
        this.end(keyId, new ConnectError(expired, Code.Unauthenticated));
      },
      Math.min(Math.max(wait, 0), maxTimerMs),
    ).unref();
    this.expiries.set(keyId, timer);
  }
}
