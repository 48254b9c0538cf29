// The server an attack suite attacks: `cloudagent serve` in a process of its own, on its
// defaults but for the deadlines the suite waits out, with a canary probing it throughout.
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { expect } from "vitest";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { type CreateKeyRequestSchema, Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { createSqliteStore } from "../store/sqlite/sqlite-store.js";
import { type AgentProcess, spawnAgent, tempDir } from "../test-support.js";
import { type Canary, canaryBarMs, p99, startCanary } from "./canary.js";
import type { CanaryReport } from "./canary-probe.js";

/**
 * The suite's server runs on the defaults, but for a quick shutdown (its hour-long tasks are
 * requeued after a second, not ten) and the settings an attack file gives. Its open-file
 * limit is the common 1,024, so the connection cap (four fifths of it) is within an attack's
 * reach.
 */
const targetSettings: Record<string, string> = { CLOUDAGENT_SHUTDOWN_GRACE_MS: "1000" };
export const targetFileLimit = 1_024;

/** Target is a server under attack, its admin, and the canary probing it. */
export interface Target {
  readonly url: URL;
  readonly admin: AgentClient;
  readonly dataDir: string;
  /** The tasks the server acknowledged during the suite: none may be lost. */
  readonly acknowledged: Set<string>;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** keyOf makes a key (tasks:submit and tasks:read unless told) and a client of it. */
  keyOf(
    init?: Partial<MessageInitShape<typeof CreateKeyRequestSchema>>,
  ): Promise<{ key: string; keyId: string; client: AgentClient }>;
  /**
   * underAttack runs an attack while the canary probes, and checks that the server kept
   * answering it: no probe failed, and the p99 of each kind is within the bar.
   */
  underAttack<T>(attack: () => Promise<T>): Promise<T>;
  /**
   * stopAndCheck stops the server and checks in its database that every task it
   * acknowledged is there.
   */
  stopAndCheck(): Promise<void>;
}

/** expectHeld checks what the canary saw during an attack against the bar. */
function expectHeld(seen: CanaryReport): void {
  expect(seen.failures).toEqual([]);
  // The canary saw the whole window, a probe every 50 ms: it was not held up itself.
  expect(seen.health.length).toBeGreaterThanOrEqual(90);
  expect(Math.round(p99(seen.health))).toBeLessThanOrEqual(canaryBarMs);
  expect(Math.round(p99(seen.ping))).toBeLessThanOrEqual(canaryBarMs);
}

/** startTarget starts the server under attack, with extra settings, and its canary. */
export async function startTarget(settings: Record<string, string> = {}): Promise<Target> {
  const dataDir = tempDir("cloudagent-attack-");
  const env = { ...targetSettings, ...settings };
  const server: AgentProcess = await spawnAgent(dataDir, env, targetFileLimit);
  const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
  const keyOf: Target["keyOf"] = async (init = {}) => {
    const { key, info } = await admin.keys.createKey({
      name: "attack suite",
      scopes: [Scope.TASKS_SUBMIT, Scope.TASKS_READ],
      ...init,
    });
    return {
      key,
      keyId: info?.keyId ?? "",
      client: createAgentClient({ baseUrl: server.url.href, apiKey: key }),
    };
  };
  const canary: Canary = await startCanary(server.url.href, (await keyOf()).key);
  const acknowledged = new Set<string>();

  return {
    url: server.url,
    admin,
    dataDir,
    acknowledged,
    log: () => server.log(),
    keyOf,
    async underAttack(attack) {
      const { result, seen } = await canary.during(attack);
      expectHeld(seen);
      return result;
    },
    async stopAndCheck() {
      canary.stop();
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      // Read from the file itself: an answer may not carry every task (one with a 4 MiB spec
      // and a 3 MiB result is larger than a message may be).
      const store = createSqliteStore({ path: join(dataDir, "cloudagent.db") });
      const lost: string[] = [];
      for (const id of acknowledged) if ((await store.getTask(id)) === undefined) lost.push(id);
      await store.close();
      expect(lost).toEqual([]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
