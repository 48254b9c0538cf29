import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { type AgentClient, createAgentClient } from "../clients/node/client.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { Scope } from "../gen/noizylab/agent/v1/key_service_pb.js";
import { type TaskEvent, TaskState } from "../gen/noizylab/agent/v1/task_pb.js";
import { closeCodes } from "./realtime/session.js";
import { connectWith } from "./realtime/test-socket.js";
import { createPgStore } from "./store/postgres/pg-store.js";
import { createDatabase, startThrowawayPostgres } from "./store/postgres/throwaway-postgres.js";
import { isTerminal } from "./store/task-projection.js";
import { type AgentProcess, spawnAgent, startTestAgent, tempDir } from "./test-support.js";

const dirs: string[] = [];
const agents: AgentProcess[] = [];
afterAll(() => {
  for (const agent of agents) agent.child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** startInstances starts n agents on one PostgreSQL database, sharing the first one's admin key. */
async function startInstances(
  databaseUrl: string,
  n: number,
  env: Record<string, string> = {},
): Promise<AgentProcess[]> {
  const dir = tempDir();
  dirs.push(dir);
  const started: AgentProcess[] = [];
  // One at a time: the first makes the admin key the others then find in the database.
  for (let i = 0; i < n; i++) {
    const agent = await spawnAgent(dir, {
      CLOUDAGENT_DATABASE_URL: databaseUrl,
      CLOUDAGENT_LEASE_MS: "1500",
      ...env,
    });
    agents.push(agent);
    started.push(agent);
  }
  return started;
}

const clientOf = (agent: AgentProcess): AgentClient =>
  createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });

const delay = (durationMs: number) => ({
  task: { case: "delay" as const, value: { durationMs, steps: 2 } },
});

async function healthOf(agent: AgentProcess): Promise<ServingStatus | Code> {
  try {
    return (await clientOf(agent).health.check({}, { timeoutMs: 2_000 })).status;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

describe("several instances on one PostgreSQL", () => {
  it("loses no acknowledged task and completes none twice when an instance is killed mid-run", async () => {
    const databaseUrl = await createDatabase(inject("postgresUrl"));
    const [a, b, c] = (await startInstances(databaseUrl, 3, {
      CLOUDAGENT_MAX_CONCURRENT_TASKS: "3",
    })) as [AgentProcess, AgentProcess, AgentProcess];
    const clients = [a, b, c].map(clientOf);
    // The Node client spreads calls over the three, as a load balancer would.
    const balanced = createAgentClient({
      baseUrl: [a, b, c].map((agent) => agent.url.href),
      apiKey: a.apiKey,
    });
    const acknowledged: string[] = [];
    let submitting = true;
    // A stream of tasks until the end of the test; a submit in flight to the killed instance
    // fails and is not acknowledged.
    const stream = (async () => {
      while (submitting) {
        try {
          const { task } = await balanced.tasks.submit({ spec: delay(150) });
          acknowledged.push(task?.id ?? "");
        } catch {
          await sleep(20);
        }
      }
    })();

    const store = await createPgStore({ url: databaseUrl, poolSize: 2, instanceId: "test" });
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // A task running on b, watched through c.
      let victim = "";
      await until("b runs a task", async () => {
        const { rows } = await db.query<{ id: string }>(
          "SELECT id FROM tasks WHERE state = 2 AND lease_owner = $1 LIMIT 1",
          [b.instanceId],
        );
        victim = rows[0]?.id ?? "";
        return victim !== "";
      });
      const seen: TaskEvent[] = [];
      const watching = (async () => {
        for await (const { event } of clients[2]?.tasks.watchTask({ taskId: victim }) ?? []) {
          if (event) seen.push(event);
        }
      })();
      await sleep(50);
      b.child.kill("SIGKILL");
      expect(await b.exited).toBe("SIGKILL");
      await sleep(1_000);
      submitting = false;
      await stream;
      // Once b is gone, the balanced client sends every call to a survivor.
      for (let i = 0; i < 9; i++) {
        const { task } = await balanced.tasks.submit({ spec: delay(10) });
        acknowledged.push(task?.id ?? "");
      }

      // Its lease expires and a survivor takes the task over; the watcher on c sees the end.
      await watching;
      const end = seen.at(-1);
      expect(end?.state).toBe(TaskState.SUCCEEDED);
      expect(seen.some((e) => e.kind.case === "stateChange" && e.state === TaskState.QUEUED)).toBe(
        true,
      );

      expect(acknowledged.length).toBeGreaterThan(10);
      await until("every acknowledged task ends", async () => {
        const { rows } = await db.query<{ n: string }>(
          "SELECT COUNT(*) AS n FROM tasks WHERE id = ANY($1) AND state IN (3, 4, 5)",
          [acknowledged],
        );
        return Number(rows[0]?.n) === acknowledged.length;
      });
      for (const taskId of acknowledged) {
        const task = await store.getTask(taskId);
        expect(task?.state, taskId).toBe(TaskState.SUCCEEDED);
        const events = await store.listEvents(taskId, 0n);
        expect(events.filter((e) => isTerminal(e.state))).toHaveLength(1);
        expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => BigInt(i + 1)));
      }
      expect((await store.getTask(victim))?.attempts).toBe(2);
    } finally {
      await db.end();
      await store.close();
      for (const agent of [a, c]) agent.child.kill("SIGTERM");
    }
  });

  it("shows a watcher on one instance the task and audit events of another", async () => {
    const databaseUrl = await createDatabase(inject("postgresUrl"));
    const a = await startTestAgent({ databaseUrl });
    const b = await startTestAgent({ databaseUrl, dataDir: a.config.dataDir });
    const watcher = createAgentClient({ baseUrl: a.url.href, apiKey: a.apiKey });
    const submitter = createAgentClient({ baseUrl: b.url.href, apiKey: a.apiKey });
    const stopWatching = new AbortController();
    const taskEvents: TaskEvent[] = [];
    const procedures: string[] = [];
    const watching = (async () => {
      const channels = [
        { target: { case: "taskType" as const, value: "echo" } },
        { target: { case: "audit" as const, value: {} } },
      ];
      const stream = watcher.agent.watchEvents({ channels }, { signal: stopWatching.signal });
      for await (const { event } of stream) {
        if (event?.payload.case === "taskEvent") taskEvents.push(event.payload.value);
        if (event?.payload.case === "auditEvent") procedures.push(event.payload.value.procedure);
      }
    })().catch(() => {});
    try {
      // The watch is on once it shows a task of a's own.
      await until("the watch is on", async () => {
        await watcher.tasks.submit({ spec: { task: { case: "echo", value: { text: "local" } } } });
        await sleep(50);
        return taskEvents.length > 0;
      });
      const { task } = await submitter.tasks.submit({
        spec: { task: { case: "echo", value: { text: "across" } } },
      });
      await until("a shows the end of the task b queued", async () =>
        taskEvents.some((e) => e.taskId === task?.id && e.state === TaskState.SUCCEEDED),
      );
      await until("a shows b's audit events", async () =>
        procedures.includes("/noizylab.agent.v1.TaskService/Submit"),
      );
    } finally {
      stopWatching.abort();
      await watching;
      await b.stop({ keepData: true });
      await a.stop();
    }
  });

  it("cancels on one instance a task another runs, and holds a key's rate limit and revocation across both", async () => {
    const databaseUrl = await createDatabase(inject("postgresUrl"));
    const a = await startTestAgent({ databaseUrl });
    const b = await startTestAgent({ databaseUrl, dataDir: a.config.dataDir });
    try {
      const onA = createAgentClient({ baseUrl: a.url.href, apiKey: a.apiKey });
      const onB = createAgentClient({ baseUrl: b.url.href, apiKey: a.apiKey });
      const { task } = await onA.tasks.submit({ spec: delay(60_000) });
      const taskId = task?.id ?? "";
      await until("the task runs", async () => {
        const { task: now } = await onB.tasks.getTask({ taskId });
        return now?.state === TaskState.RUNNING;
      });
      const runner = [a, b].find((agent) => agent.agent.engine.runningCount === 1);
      const other = runner === a ? onB : onA;
      const { task: cancelled } = await other.tasks.cancelTask({ taskId, reason: "elsewhere" });
      expect(cancelled?.state).toBe(TaskState.CANCELLED);
      // The runner hears of it and stops the handler.
      await until(
        "the runner stops the handler",
        async () => runner?.agent.engine.runningCount === 0,
      );

      const { key } = await onA.keys.createKey({
        name: "limited",
        // Reading another key's task (the admin's) takes tasks:read:all.
        scopes: [Scope.TASKS_READ, Scope.TASKS_READ_ALL],
        rateLimit: { perSecond: 0.01, burst: 2 },
      });
      const limitedA = createAgentClient({ baseUrl: a.url.href, apiKey: key });
      const limitedB = createAgentClient({ baseUrl: b.url.href, apiKey: key });
      await limitedA.tasks.getTask({ taskId });
      await limitedB.tasks.getTask({ taskId });
      const refused = await limitedA.tasks.getTask({ taskId }).catch(ConnectError.from);
      expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);

      const { key: doomed, info } = await onA.keys.createKey({
        name: "doomed",
        scopes: [Scope.TASKS_READ, Scope.TASKS_READ_ALL],
      });
      const doomedB = createAgentClient({ baseUrl: b.url.href, apiKey: doomed });
      await doomedB.tasks.getTask({ taskId });
      await onA.keys.revokeKey({ keyId: info?.keyId ?? "" });
      await until("b refuses the revoked key", async () => {
        const error = await doomedB.tasks
          .getTask({ taskId })
          .then(() => undefined, ConnectError.from);
        return error?.code === Code.Unauthenticated;
      });
    } finally {
      await b.stop({ keepData: true });
      await a.stop();
    }
  });

  it("closes a revoked key's WebSocket sessions and streams on every instance", async () => {
    const databaseUrl = await createDatabase(inject("postgresUrl"));
    const a = await startTestAgent({ databaseUrl });
    const b = await startTestAgent({ databaseUrl, dataDir: a.config.dataDir });
    try {
      const { key, info } = await createAgentClient({
        baseUrl: a.url.href,
        apiKey: a.apiKey,
      }).keys.createKey({ name: "doomed", scopes: [Scope.TASKS_READ, Scope.TASKS_SUBMIT] });
      const keyId = info?.keyId ?? "";
      const session = await connectWith(b, { authorization: `Bearer ${key}` });
      const watching = (async () => {
        const client = createAgentClient({ baseUrl: b.url.href, apiKey: key });
        const channels = [{ target: { case: "allTasks" as const, value: {} } }];
        for await (const _ of client.agent.watchEvents({ channels })) {
          // Open until the key goes.
        }
      })().catch(ConnectError.from);
      // The watch is open once b's hub counts its subscription.
      const onB = createAgentClient({ baseUrl: b.url.href, apiKey: a.apiKey });
      await expect
        .poll(async () => (await onB.agent.getCapabilities({})).realtime?.subscriptions)
        .toBe(1);
      const revoked = performance.now();
      await createAgentClient({ baseUrl: a.url.href, apiKey: a.apiKey }).keys.revokeKey({ keyId });
      expect(await session.closed).toEqual({
        code: closeCodes.revoked,
        reason: `API key ${keyId} was revoked`,
      });
      // Within a second, as the door promises (docs/security.md): b hears it from the store.
      expect(performance.now() - revoked).toBeLessThan(1_000);
      expect(await watching).toMatchObject({ code: Code.Canceled });
    } finally {
      await b.stop({ keepData: true });
      await a.stop();
    }
  });

  it("answers Unavailable and NOT_SERVING while the database restarts under load, then recovers by itself", async () => {
    const server = await startThrowawayPostgres();
    try {
      // The load submits as fast as it is answered: no key's rate limit may refuse it, so that
      // every refusal it meets is the database's.
      const instances = await startInstances(server.url, 2, {
        CLOUDAGENT_RATE_LIMIT_PER_SECOND: "1000000",
        CLOUDAGENT_RATE_LIMIT_BURST: "1000000",
      });
      const clients = instances.map(clientOf);
      const acknowledged: string[] = [];
      const failures = new Map<Code, number>();
      let loading = true;
      const load = Promise.all(
        clients.map(async (client) => {
          while (loading) {
            try {
              const { task } = await client.tasks.submit({ spec: delay(5) });
              acknowledged.push(task?.id ?? "");
            } catch (error) {
              const { code } = ConnectError.from(error);
              failures.set(code, (failures.get(code) ?? 0) + 1);
              await sleep(20);
            }
          }
        }),
      );
      await until("the load is on", async () => acknowledged.length > 20);

      server.stop();
      await until("submits fail", async () => failures.size > 0);
      for (const agent of instances) {
        await until("health says NOT_SERVING", async () => {
          return (await healthOf(agent)) === ServingStatus.NOT_SERVING;
        });
      }
      const error = await clients[0]?.tasks.submit({ spec: delay(5) }).catch(ConnectError.from);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).rawMessage).toMatch(/^the database is unavailable/);
      expect((error as ConnectError).code).toBe(Code.Unavailable);

      server.start();
      for (const agent of instances) {
        await until("health says SERVING", async () => {
          return (await healthOf(agent)) === ServingStatus.SERVING;
        });
      }
      const before = acknowledged.length;
      await until("submits succeed again", async () => acknowledged.length > before + 20);
      loading = false;
      await load;
      // Every failure said the database was unavailable: nothing Internal, nothing hanging.
      expect([...failures.keys()]).toEqual([Code.Unavailable]);
      const store = await createPgStore({ url: server.url, poolSize: 2, instanceId: "test" });
      try {
        await until("every acknowledged task succeeds", async () => {
          const tasks = await Promise.all(acknowledged.map((id) => store.getTask(id)));
          return tasks.every((task) => task?.state === TaskState.SUCCEEDED);
        });
      } finally {
        await store.close();
      }
      for (const agent of instances) agent.child.kill("SIGTERM");
    } finally {
      server.destroy();
    }
  });
});
