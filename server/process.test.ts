import { rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../clients/node/client.js";
import { TaskState } from "../gen/noizylab/agent/v1/task_pb.js";
import { createSqliteStore } from "./store/sqlite/sqlite-store.js";
import { type AgentProcess, spawnAgent, tempDir } from "./test-support.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

async function waitForState(agent: AgentProcess, taskId: string, state: TaskState): Promise<void> {
  const client = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
  for await (const { event } of client.tasks.watchTask({ taskId })) {
    if (event?.state === state) return;
  }
}

describe("the cloudagent process", () => {
  it("runs every acknowledged task after a kill -9: none is lost", async () => {
    const dir = dataDir();
    const first = await spawnAgent(dir, { CLOUDAGENT_MAX_CONCURRENT_TASKS: "4" });
    const client = createAgentClient({ baseUrl: first.url.href, apiKey: first.apiKey });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { task } = await client.tasks.submit({
        spec: { task: { case: "delay", value: { durationMs: 400, steps: 4 } } },
      });
      ids.push(task?.id ?? "");
    }
    await waitForState(first, ids[0] ?? "", TaskState.RUNNING);
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");

    const second = await spawnAgent(dir, { CLOUDAGENT_MAX_CONCURRENT_TASKS: "4" });
    const after = createAgentClient({ baseUrl: second.url.href, apiKey: second.apiKey });
    for (const taskId of ids) await waitForState(second, taskId, TaskState.SUCCEEDED);
    const tasks = await Promise.all(
      ids.map(async (taskId) => (await after.tasks.getTask({ taskId })).task),
    );
    expect(tasks.every((t) => t?.state === TaskState.SUCCEEDED)).toBe(true);
    expect(tasks[0]?.attempts).toBe(2);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    const db = new Database(join(dir, "cloudagent.db"), { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();
  });

  it("keeps the database whole and every acknowledged task after a kill -9 in a burst of submits", async () => {
    const dir = dataDir();
    const agent = await spawnAgent(dir);
    const client = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
    const acknowledged: string[] = [];
    // Eight submitters in a loop: the kill lands while submits are being committed.
    const submitters = Array.from({ length: 8 }, async () => {
      for (;;) {
        try {
          const { task } = await client.tasks.submit({
            spec: { task: { case: "echo", value: { text: "burst" } } },
          });
          acknowledged.push(task?.id ?? "");
        } catch {
          return;
        }
      }
    });
    while (acknowledged.length < 100) await sleep(10);
    agent.child.kill("SIGKILL");
    expect(await agent.exited).toBe("SIGKILL");
    await Promise.all(submitters);

    const db = new Database(join(dir, "cloudagent.db"), { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();
    const store = createSqliteStore({ path: join(dir, "cloudagent.db") });
    const missing = [];
    for (const id of acknowledged) if ((await store.getTask(id)) === undefined) missing.push(id);
    await store.close();
    expect(missing).toEqual([]);
  });

  it("shuts down on SIGTERM: running tasks finish in the grace period, queued ones stay queued", async () => {
    const dir = dataDir();
    const agent = await spawnAgent(dir, {
      CLOUDAGENT_MAX_CONCURRENT_TASKS: "1",
      CLOUDAGENT_SHUTDOWN_GRACE_MS: "10000",
    });
    const client = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
    const running = await client.tasks.submit({
      spec: { task: { case: "delay", value: { durationMs: 300 } } },
    });
    const queued = await client.tasks.submit({
      spec: { task: { case: "delay", value: { durationMs: 1 } } },
    });
    await waitForState(agent, running.task?.id ?? "", TaskState.RUNNING);
    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    expect(agent.log()).toContain("SIGTERM: stopping");

    const store = createSqliteStore({ path: join(dir, "cloudagent.db") });
    expect((await store.getTask(running.task?.id ?? ""))?.state).toBe(TaskState.SUCCEEDED);
    expect((await store.getTask(queued.task?.id ?? ""))?.state).toBe(TaskState.QUEUED);
    await store.close();
  });

  it("requeues a task that outlasts the grace period, and runs it at the next start", async () => {
    const dir = dataDir();
    const env = { CLOUDAGENT_SHUTDOWN_GRACE_MS: "100" };
    const agent = await spawnAgent(dir, env);
    const client = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
    const { task } = await client.tasks.submit({
      spec: { task: { case: "delay", value: { durationMs: 1_500, steps: 3 } } },
    });
    await waitForState(agent, task?.id ?? "", TaskState.RUNNING);
    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);

    const next = await spawnAgent(dir, env);
    await waitForState(next, task?.id ?? "", TaskState.SUCCEEDED);
    const after = createAgentClient({ baseUrl: next.url.href, apiKey: next.apiKey });
    expect((await after.tasks.getTask({ taskId: task?.id ?? "" })).task?.attempts).toBe(2);
    next.child.kill("SIGTERM");
    await next.exited;
  });

  it("refuses a bad setting with a message naming it", async () => {
    await expect(spawnAgent(dataDir(), { CLOUDAGENT_PORT: "http" })).rejects.toThrow(
      'CLOUDAGENT_PORT: must be an integer from 0 to 65535, got "http"',
    );
  });
});
