// Scale-out (issue: PostgreSQL as the shared engine): task throughput, submit to completion,
// of echo tasks run by many callers, for one instance on SQLite and one, two and three
// instances on one PostgreSQL, in one run, alternating order; with the CPU time all agent
// processes and PostgreSQL spend per task. Medians to bench/RESULTS.md. Run with
// `npm run bench:scale-out`.
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from "../server/store/postgres/throwaway-postgres.js";
import { type AgentProcess, spawnAgent, tempDir } from "../server/test-support.js";
import { cpuSecondsOf } from "./process-cpu.js";
import { median, writeSection } from "./results-file.js";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 2_000);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 8_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const steadyPerInstance = Number(process.env.BENCH_STEADY_RATE ?? 40);

interface Setup {
  readonly name: string;
  readonly engine: "sqlite" | "postgres";
  readonly instances: number;
}

const setups: readonly Setup[] = [
  { name: "SQLite, 1 instance", engine: "sqlite", instances: 1 },
  { name: "PostgreSQL, 1 instance", engine: "postgres", instances: 1 },
  { name: "PostgreSQL, 2 instances", engine: "postgres", instances: 2 },
  { name: "PostgreSQL, 3 instances", engine: "postgres", instances: 3 },
];

interface Phase {
  readonly tasksPerSecond: number;
  /** CPU milliseconds per task, all agent processes and PostgreSQL together. */
  readonly cpuMsPerTask: number;
}

interface Measure {
  /** As fast as the callers go. */
  readonly saturated: Phase;
  /** At steadyPerInstance tasks a second for each instance. */
  readonly steady: Phase;
}

/** phase drives the instances with one load process and measures a window of it. */
async function phase(
  setup: Setup,
  agents: readonly AgentProcess[],
  cpuOf: () => number,
  load: { concurrency: number } | { perSecond: number },
): Promise<Phase> {
  const child = fork(join(import.meta.dirname, "scale-out-load.ts"), [], {
    execArgv: ["--import", "tsx"],
  });
  let reply: (completed: number) => void = () => {};
  const failed = new Promise<never>((_, reject) =>
    child.on("message", (message: { error?: string; completed: number }) => {
      if (message.error) reject(new Error(`${setup.name}: ${message.error}`));
      else reply(message.completed);
    }),
  );
  const mark = () => {
    const next = new Promise<number>((resolve) => {
      reply = resolve;
    });
    child.send("mark");
    return Promise.race([next, failed]);
  };
  child.send({ urls: agents.map((a) => a.url.href), apiKey: agents[0]?.apiKey, ...load });
  await Promise.race([sleep(warmupMs), failed]);
  const cpuBefore = cpuOf();
  const before = await mark();
  const started = performance.now();
  await Promise.race([sleep(durationMs), failed]);
  const after = await mark();
  const cpuAfter = cpuOf();
  const seconds = (performance.now() - started) / 1000;
  child.kill();
  const tasks = after - before;
  if (tasks <= 0) throw new Error(`${setup.name}: no task completed`);
  return { tasksPerSecond: tasks / seconds, cpuMsPerTask: ((cpuAfter - cpuBefore) * 1000) / tasks };
}

async function measure(setup: Setup, postgres: ThrowawayPostgres): Promise<Measure> {
  const dataDir = tempDir("cloudagent-bench-");
  const env: Record<string, string> = {
    // High enough that the buckets are checked on every call but never run dry.
    CLOUDAGENT_RATE_LIMIT_PER_SECOND: "1000000",
    CLOUDAGENT_RATE_LIMIT_BURST: "1000000",
  };
  if (setup.engine === "postgres") env.CLOUDAGENT_DATABASE_URL = await postgres.createDatabase();
  const agents: AgentProcess[] = [];
  try {
    // One at a time: the first makes the admin key the others find in the database.
    for (let i = 0; i < setup.instances; i++) agents.push(await spawnAgent(dataDir, env));
    const pids = agents.map((a) => a.child.pid ?? 0);
    const roots = setup.engine === "postgres" ? [postgres.pid()] : [];
    const cpuOf = () => cpuSecondsOf(pids, roots);
    return {
      saturated: await phase(setup, agents, cpuOf, { concurrency }),
      steady: await phase(setup, agents, cpuOf, {
        perSecond: steadyPerInstance * setup.instances,
      }),
    };
  } finally {
    for (const agent of agents) agent.child.kill("SIGTERM");
    await Promise.all(agents.map((agent) => agent.exited));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Commits reach the disk on both engines: SQLite fsyncs its log, PostgreSQL has fsync on.
const postgres = await startThrowawayPostgres({ durable: true });
const results = new Map(setups.map((setup) => [setup.name, [] as Measure[]]));
try {
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) {
      const result = await measure(setup, postgres);
      results.get(setup.name)?.push(result);
      console.log(
        `run ${run + 1} ${setup.name}: ${Math.round(result.saturated.tasksPerSecond)} tasks/s ` +
          `(${result.saturated.cpuMsPerTask.toFixed(2)} CPU ms/task); ` +
          `at ${steadyPerInstance}/s per instance: ` +
          `${result.steady.cpuMsPerTask.toFixed(2)} CPU ms/task`,
      );
    }
  }
} finally {
  postgres.destroy();
}

const medianOf = (name: string, pick: (m: Measure) => number) =>
  median((results.get(name) ?? []).map(pick));
const sqlite = medianOf(setups[0]?.name ?? "", (m) => m.saturated.tasksPerSecond);
const onePostgres = medianOf(setups[1]?.name ?? "", (m) => m.steady.cpuMsPerTask);
const rows = setups.map((setup) => {
  const perSecond = medianOf(setup.name, (m) => m.saturated.tasksPerSecond);
  const busyCpu = medianOf(setup.name, (m) => m.saturated.cpuMsPerTask);
  const steadyCpu = medianOf(setup.name, (m) => m.steady.cpuMsPerTask);
  const ratio = setup.engine === "postgres" ? `${(steadyCpu / onePostgres).toFixed(2)}x` : "—";
  return `| ${setup.name} | ${Math.round(perSecond).toLocaleString("en")} | ${(perSecond / sqlite).toFixed(2)}x | ${busyCpu.toFixed(2)} | ${steadyCpu.toFixed(2)} | ${ratio} |`;
});
const section = `## Scale-out: SQLite and PostgreSQL

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}.
\`echo\` tasks run to completion (\`TaskService.Run\`: committed, claimed, run, result committed
and streamed back), spread over the instances by the Node client's balancer, the door on
(key, shared rate limit, audit). Commits reach the disk on both engines (SQLite's log
fsynced, PostgreSQL fsync on). Throughput: ${concurrency} callers in another process, each
running one task after another. CPU: the time all agent processes and all PostgreSQL
processes spent per completed task, at that saturation, and at a steady ${steadyPerInstance} tasks/s per
instance (${steadyPerInstance}, ${steadyPerInstance * 2}, ${steadyPerInstance * 3} tasks/s in all). Windows of ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up;
median of ${runs} runs, alternating order.

| setup | tasks/s | vs SQLite | CPU ms/task, saturated | CPU ms/task at ${steadyPerInstance}/s per instance | vs 1 instance on PostgreSQL |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Bars: one instance on PostgreSQL reaches at least 0.5x the SQLite throughput; CPU per task
with three instances stays within 1.25x of one instance's. This machine has 2 cores, so more
instances add no throughput here, and CPU per task is read at equal load per instance, as
on a machine with a core per instance: a Node process spends more CPU per task the less
busy it is (fewer events per wake-up; one instance at a third of the load costs about what
three sharing it do), and at saturation three instances, PostgreSQL and the load generator
contend for two cores. What grows with the number of instances is the delivery of every
event's notification to every instance.`;
writeSection("scale-out", section);
console.log(section);
process.exit(0);
