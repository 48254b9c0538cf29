import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { CanaryReport } from "./canary-probe.js";

/** How often the canary probes, and the slowest answer its p99 may have (see docs/security.md). */
const canaryIntervalMs = 50;
export const canaryBarMs = 200;
/**
 * How long the canary watches each attack at least: a hundred probes, so that the p99 is a
 * percentile and not simply the slowest probe. An attack over sooner is watched as what it
 * left behind (connections held, streams open, a backlog queued) plays out.
 */
const canaryWindowMs = 100 * canaryIntervalMs;
/** How long the canary probes before any attack: its first calls are slow (its code compiles). */
const canaryWarmUpMs = 20 * canaryIntervalMs;

/** p99 is the 99th percentile of samples (the nearest-rank one); 0 when there are none. */
export function p99(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
}

/** Canary probes a server from a process of its own, so that its timings are the server's. */
export interface Canary {
  /**
   * during runs an attack and returns what the canary saw meanwhile, for canaryWindowMs at
   * least (probes started before it are left out), with the attack's own result.
   */
  during<T>(attack: () => Promise<T>): Promise<{ result: T; seen: CanaryReport }>;
  stop(): void;
}

function nextReport(child: ChildProcess): Promise<CanaryReport> {
  return new Promise((resolve) => {
    child.once("message", (message: CanaryReport) => resolve(message));
    child.send("report");
  });
}

/** startCanary starts probing the server at url with a key of the canary's own. */
export async function startCanary(url: string, apiKey: string): Promise<Canary> {
  const child = fork(join(import.meta.dirname, "canary-probe.ts"), [], {
    execArgv: ["--import", "tsx"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`the canary exited (${code})`)));
    child.send({ url, apiKey, intervalMs: canaryIntervalMs });
  });
  await new Promise((resolve) => setTimeout(resolve, canaryWarmUpMs));
  return {
    async during(attack) {
      await nextReport(child);
      const started = performance.now();
      const result = await attack();
      const left = canaryWindowMs - (performance.now() - started);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
      return { result, seen: await nextReport(child) };
    },
    stop: () => child.kill(),
  };
}
