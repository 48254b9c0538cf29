// The canary's own process: while an attack runs, it asks the server under attack for its
// health and for a Ping (with a key of its own) every few milliseconds, and reports how long
// each took.
import { createAgentClient } from "../../clients/node/client.js";

/** CanaryStart is what the canary is told when it starts. */
export interface CanaryStart {
  readonly url: string;
  readonly apiKey: string;
  readonly intervalMs: number;
}

/** CanaryReport is what the canary saw since it was last asked. */
export interface CanaryReport {
  /** Health/Check round trips, in milliseconds. */
  readonly health: number[];
  /** Ping round trips, in milliseconds. */
  readonly ping: number[];
  /** Probes that failed, each with its error. */
  readonly failures: string[];
}

/** A probe not answered yet: when it started, and where its time goes. */
interface InFlight {
  readonly started: number;
  readonly into: number[];
}

let report: CanaryReport = { health: [], ping: [], failures: [] };
const inFlight = new Set<InFlight>();

/** probe times one call into the report of its start. */
async function probe(into: number[], call: () => Promise<unknown>): Promise<void> {
  const entry = { started: performance.now(), into };
  const failures = report.failures;
  inFlight.add(entry);
  try {
    await call();
  } catch (error) {
    failures.push(String(error));
  }
  // Counted already if a report went out meanwhile (see below).
  if (inFlight.delete(entry)) into.push(performance.now() - entry.started);
}

/**
 * reportNow hands over what was seen and starts anew. A probe still waiting counts with the
 * time it has waited so far: a server that stops answering cannot hide behind it.
 */
function reportNow(): CanaryReport {
  const now = performance.now();
  for (const entry of inFlight) entry.into.push(now - entry.started);
  inFlight.clear();
  const done = report;
  report = { health: [], ping: [], failures: [] };
  return done;
}

process.once("message", (start: CanaryStart) => {
  const client = createAgentClient({ baseUrl: start.url, apiKey: start.apiKey });
  setInterval(() => {
    void probe(report.health, () => client.health.check({}, { timeoutMs: 30_000 }));
    void probe(report.ping, () => client.agent.ping({}, { timeoutMs: 30_000 }));
  }, start.intervalMs);
  process.on("message", (message: string) => {
    if (message === "report") process.send?.(reportNow());
  });
  process.send?.("started");
});
