import { Code, ConnectError, type Transport } from "@connectrpc/connect";

/** BalancerOptions tune how calls are spread over the instances. */
export interface BalancerOptions {
  /** How long an instance that could not be reached is skipped, in milliseconds. */
  readonly ejectMs?: number;
}

// Errors of a connection that was never made: the request cannot have reached the server.
const unreachableCodes = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND"]);

/** unreachable tells whether a call failed before its request could reach the server. */
function unreachable(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  if (connectError.code !== Code.Unavailable) return false;
  for (let cause: unknown = connectError.cause; cause instanceof Error; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && unreachableCodes.has(code)) return true;
  }
  return false;
}

/**
 * createBalancedTransport spreads calls over the transports of several agent instances in
 * turn (all instances share one database, so any of them can answer any call). An instance
 * that cannot be reached is skipped for a while; a unary call that failed to reach one is
 * sent to the next, which is safe because the first never received it. Streams are not
 * resent (their input may be spent): they fail, and a caller that resumes (as `run` does)
 * goes to the next instance.
 */
export function createBalancedTransport(
  transports: readonly Transport[],
  options: BalancerOptions = {},
): Transport {
  if (transports.length === 0) throw new Error("a balanced transport needs at least one instance");
  const ejectMs = options.ejectMs ?? 2_000;
  const ejectedUntil = transports.map(() => 0);
  let turn = 0;

  /** pick returns the next instance in turn that is not ejected or tried (any, if none is left). */
  function pick(tried: ReadonlySet<number>): number {
    const now = Date.now();
    for (let step = 0; step < transports.length; step++) {
      const index = (turn + step) % transports.length;
      if (!tried.has(index) && (ejectedUntil[index] ?? 0) <= now) {
        turn = index + 1;
        return index;
      }
    }
    const untried = transports.findIndex((_, index) => !tried.has(index));
    turn = untried + 1;
    return untried;
  }

  function eject(index: number, error: unknown): void {
    if (unreachable(error)) ejectedUntil[index] = Date.now() + ejectMs;
  }

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const tried = new Set<number>();
      for (;;) {
        const index = pick(tried);
        tried.add(index);
        try {
          const transport = transports[index] as Transport;
          return await transport.unary(method, signal, timeoutMs, header, input, contextValues);
        } catch (error) {
          eject(index, error);
          if (!unreachable(error) || tried.size === transports.length) throw error;
        }
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const index = pick(new Set());
      try {
        const transport = transports[index] as Transport;
        return await transport.stream(method, signal, timeoutMs, header, input, contextValues);
      } catch (error) {
        eject(index, error);
        throw error;
      }
    },
  };
}
