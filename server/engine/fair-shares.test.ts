import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentClient, createAgentClient } from "../../clients/node/client.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent, type TestAgent } from "../test-support.js";

let server: TestAgent;
let admin: AgentClient;
beforeAll(async () => {
  // The defaults but for the rate limit: a hog's 10,000 tasks come in ten batches.
  server = await startTestAgent();
  admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
});
afterAll(() => server.stop());

async function clientOfNewKey(name: string): Promise<{ client: AgentClient; keyId: string }> {
  const scopes = [Scope.TASKS_SUBMIT, Scope.TASKS_READ];
  const { key, info } = await admin.keys.createKey({ name, scopes });
  return {
    client: createAgentClient({ baseUrl: server.url.href, apiKey: key }),
    keyId: info?.keyId ?? "",
  };
}

/** stateCounts counts a key's tasks by state, from the store. */
async function stateCounts(keyId: string): Promise<Map<TaskState, number>> {
  const counts = new Map<TaskState, number>();
  let beforeId: string | undefined;
  for (;;) {
    const page = await server.agent.store.listTasks({
      states: [],
      types: [],
      keyId,
      beforeId,
      limit: 5_000,
    });
    for (const task of page) counts.set(task.state, (counts.get(task.state) ?? 0) + 1);
    if (page.length < 5_000) return counts;
    beforeId = page.at(-1)?.id;
  }
}

describe("fair shares of the task slots", () => {
  it("runs another key's task beside one key's 10,000 hour-long tasks, not behind them", async () => {
    const hog = await clientOfNewKey("hog");
    const hourLong = { task: { case: "delay" as const, value: { durationMs: 3_600_000 } } };
    for (let batch = 0; batch < 10; batch++) {
      const { results } = await hog.client.tasks.submitBatch({
        requests: Array.from({ length: 1_000 }, () => ({ spec: hourLong })),
      });
      expect(results.every((r) => r.outcome.case === "submitted")).toBe(true);
    }
    // The hog holds a quarter of the 16 slots, however long its backlog.
    await expect.poll(async () => (await stateCounts(hog.keyId)).get(TaskState.RUNNING)).toBe(4);

    const other = await clientOfNewKey("other");
    // A pure task of another key does not queue behind the hog's backlog...
    const { task: hashed } = await other.client.tasks.submit({
      spec: { task: { case: "hash", value: { input: { case: "text", value: "abc" } } } },
    });
    expect(hashed?.state).toBe(TaskState.SUCCEEDED);
    // ...and one that takes a slot gets one of the free slots at once, and finishes.
    const slept = await other.client.run({ case: "delay", value: { durationMs: 10 } });
    expect(slept.$typeName).toBe("noizylab.agent.v1.DelayResult");
    // Meanwhile none of the hog's backlog moved: it waits for its own slots.
    const hogCounts = await stateCounts(hog.keyId);
    expect(hogCounts.get(TaskState.RUNNING)).toBe(4);
    expect(hogCounts.get(TaskState.QUEUED)).toBe(9_996);
  });
});
