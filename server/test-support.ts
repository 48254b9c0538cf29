import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Agent, createAgent } from "./agent.js";
import { type AgentConfig, loadConfig } from "./config.js";

/** TestAgent is an agent serving on a free loopback port with its own data directory. */
export interface TestAgent {
  readonly agent: Agent;
  readonly url: URL;
  readonly config: AgentConfig;
  /** stop shuts the agent down and removes its data directory. */
  stop(): Promise<void>;
}

/** tempDir makes a fresh temporary directory. */
export function tempDir(prefix = "cloudagent-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** startTestAgent starts an agent on 127.0.0.1 and port 0, with config overrides. */
export async function startTestAgent(overrides: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const dataDir = tempDir();
  const config = {
    ...loadConfig({ env: {} }),
    port: 0,
    dataDir,
    shutdownGraceMs: 1_000,
    ...overrides,
  };
  const agent = createAgent({ config, onError: (error) => console.error(error) });
  const url = await agent.start();
  return {
    agent,
    url,
    config,
    async stop() {
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
