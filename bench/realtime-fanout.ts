// Fan-out benchmark of the WebSocket gateway (issue: realtime). For each of several runs it
// measures, in this one process, events delivered per second to N subscribed sockets through
// the gateway (channel hub, sessions, frame encoding) and through a bare ws broadcast of the
// very same frames, plus the server memory each idle connection costs; then it writes the
// medians and their ratio to bench/RESULTS.md. Run with `npm run bench:realtime`.
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { create, createRegistry } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { WebSocketServer } from "ws";
import { ChannelEventSchema, MetricsSnapshotSchema } from "../gen/noizylab/agent/v1/channel_pb.js";
import { type TaskEvent, TaskEventSchema, TaskState } from "../gen/noizylab/agent/v1/task_pb.js";
import { createAuditLog } from "../server/audit/audit-log.js";
import { loadConfig } from "../server/config.js";
import { createEngine } from "../server/engine/engine.js";
import { createEventBus } from "../server/engine/event-bus.js";
import { createListener } from "../server/listener/listener.js";
import { Pacer, workPerTurn } from "../server/listener/pacer.js";
import { createChannelHub } from "../server/realtime/channel-hub.js";
import { encodeEventFrame } from "../server/realtime/frame-codec.js";
import { createGateway } from "../server/realtime/gateway.js";
import { createDoor } from "../server/security/door.js";
import { doorOptionsOf } from "../server/security/door-config.js";
import { createKeyManager } from "../server/security/key-manager.js";
import { createSqliteStore } from "../server/store/sqlite/sqlite-store.js";
import { createTaskRegistry } from "../server/tasks/registry.js";
import { median, writeSection } from "./results-file.js";

const socketCount = Number(process.env.BENCH_SOCKETS ?? 1_000);
const eventCount = Number(process.env.BENCH_EVENTS ?? 1_000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
// Events published per turn of the event loop, for both servers alike.
const batch = 10;

interface Target {
  readonly url: string;
  publish(events: readonly TaskEvent[]): Promise<void>;
  close(): Promise<void>;
}

function progressEvents(): TaskEvent[] {
  return Array.from({ length: eventCount }, (_, i) =>
    create(TaskEventSchema, {
      taskId: "01a2b3c4-0000-7000-8000-000000000000",
      sequence: BigInt(i + 2),
      time: timestampNow(),
      state: TaskState.RUNNING,
      kind: {
        case: "progress",
        value: { percent: (100 * i) / eventCount, note: `step ${i} of ${eventCount}` },
      },
    }),
  );
}

async function publishInBatches(
  events: readonly TaskEvent[],
  publish: (event: TaskEvent) => void,
): Promise<void> {
  for (let i = 0; i < events.length; i++) {
    publish(events[i] as TaskEvent);
    if (i % batch === batch - 1) await nextTurn();
  }
}

async function startGateway(dir: string): Promise<Target> {
  const store = createSqliteStore({ path: join(dir, "bench.db") });
  const engine = createEngine({
    store,
    registry: createTaskRegistry(),
    onError: console.error,
    maxConcurrentTasks: 1,
    maxRunningTasksPerKey: 1,
    defaultTimeoutMs: 1_000,
    maxTimeoutMs: 1_000,
    maxOutputBytes: 1 << 20,
    maxAttempts: 1,
    maxTasksPerKey: 1_000,
    maxQueuedTasks: 10_000,
    streamIdleTimeoutMs: 60_000,
    leaseMs: 3_600_000,
    instanceId: "only",
  });
  // The hub's source is a real event bus that this benchmark publishes to directly, so the
  // measure is the fan-out alone, not the rate at which tasks make events.
  const bus = createEventBus();
  // The door is real, with /ws opened to everyone, as an operator may: the measure is the fan-out.
  const keys = createKeyManager(store.keys);
  const door = createDoor(
    doorOptionsOf({ ...loadConfig({ env: {} }), openPaths: "/ws" }, keys, store),
  );
  const audit = createAuditLog({
    store: store.audit,
    retentionDays: 1,
    flushIntervalMs: 1_000,
    enabled: true,
    onError: console.error,
  });
  const hub = createChannelHub({
    taskEvents: bus.subscribeAll,
    auditEvents: audit.onRecord,
    snapshot: async () => create(MetricsSnapshotSchema),
    metricsIntervalMs: 60_000,
    onError: console.error,
  });
  const pacer = new Pacer(workPerTurn);
  const gateway = createGateway({
    types: createRegistry(),
    pacer,
    engine,
    hub,
    door,
    audit,
    authTimeoutMs: 5_000,
    limits: {
      heartbeatMs: 60_000,
      idleTimeoutMs: 600_000,
      maxFrameBytes: 1 << 20,
      maxSubscriptions: 10,
      maxBufferedBytes: 64 << 20,
    },
  });
  const listener = createListener({
    handler: (_request, response) => response.end(),
    upgrade: gateway.handleUpgrade,
    pacer,
    deadlines: {
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      requestTimeoutMs: 300_000,
      minBodyBytesPerSecond: 1_000,
    },
    maxConcurrentStreams: 100,
  });
  const url = await listener.listen(0, "127.0.0.1");
  return {
    url: `ws://${url.host}/ws`,
    publish: (events) =>
      publishInBatches(events, (event) => bus.publish(event, { type: "delay", keyId: "" })),
    async close() {
      gateway.close();
      await listener.close(100);
      hub.close();
      await audit.close();
      await store.close();
    },
  };
}

async function startBare(): Promise<Target> {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    publish: (events) =>
      publishInBatches(events, (event) => {
        // The same bytes the gateway sends to a session's first subscription.
        const frame = encodeEventFrame(
          create(ChannelEventSchema, {
            payload: { case: "taskEvent", value: event },
            taskType: "delay",
          }),
          "1",
          "json",
        );
        for (const client of wss.clients) client.send(frame);
      }),
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function measure(target: Target, subscribe: boolean, events: readonly TaskEvent[]) {
  const clients = fork(join(import.meta.dirname, "fanout-clients.ts"), [], {
    execArgv: ["--import", "tsx"],
  });
  const replies: { type: string; at?: number; error?: string }[] = [];
  let wake: () => void = () => {};
  clients.on("message", (message: { type: string }) => {
    replies.push(message);
    wake();
  });
  const reply = async (type: string) => {
    for (;;) {
      const found = replies.find((r) => r.type === type || r.type === "error");
      if (found?.type === "error") throw new Error(found.error);
      if (found) return found;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  gc();
  const before = process.memoryUsage();
  clients.send({ type: "open", url: target.url, sockets: socketCount, subscribe });
  await reply("ready");
  await sleep(200);
  gc();
  const after = process.memoryUsage();
  clients.send({ type: "expect", expect: events.length * socketCount });
  await reply("armed");
  const started = performance.timeOrigin + performance.now();
  await target.publish(events);
  const done = (await reply("done")).at ?? started;
  clients.send({ type: "close" });
  await new Promise((resolve) => clients.once("exit", resolve));
  await target.close();
  return {
    perSecond: (events.length * socketCount) / ((done - started) / 1000),
    heapPerSocket: (after.heapUsed - before.heapUsed) / socketCount,
  };
}

const events = progressEvents();
const dir = join(tmpdir(), `cloudagent-bench-${process.pid}`);
const gatewayRuns: Awaited<ReturnType<typeof measure>>[] = [];
const bareRuns: Awaited<ReturnType<typeof measure>>[] = [];
try {
  for (let run = 0; run < runs; run++) {
    // Alternate which goes first, so drift on a shared machine hits both alike.
    const order = run % 2 === 0 ? (["gateway", "bare"] as const) : (["bare", "gateway"] as const);
    for (const kind of order) {
      const result =
        kind === "gateway"
          ? await measure(await startGateway(join(dir, String(run))), true, events)
          : await measure(await startBare(), false, events);
      (kind === "gateway" ? gatewayRuns : bareRuns).push(result);
      console.log(
        `run ${run + 1} ${kind}: ${Math.round(result.perSecond)} events/s, ${Math.round(result.heapPerSocket)} B heap per socket`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const gatewayRate = median(gatewayRuns.map((r) => r.perSecond));
const bareRate = median(bareRuns.map((r) => r.perSecond));
const row = (name: string, results: typeof gatewayRuns, rate: number) =>
  `| ${name} | ${Math.round(rate).toLocaleString("en")} | ${(rate / bareRate).toFixed(2)}x | ${Math.round(median(results.map((r) => r.heapPerSocket))).toLocaleString("en")} |`;
const section = `## Realtime fan-out

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}.
${eventCount.toLocaleString("en")} progress events (JSON frames of about ${String(encodeEventFrame(create(ChannelEventSchema, { payload: { case: "taskEvent", value: events[0] as TaskEvent }, taskType: "delay" }), "1", "json")).length} bytes) to
${socketCount.toLocaleString("en")} subscribed sockets on loopback, clients in a second process; median of ${runs} runs,
alternating order. Memory is the growth of the server process's V8 heap per idle connection,
after GC (its RSS moves too little and too noisily per connection to read).

| server | events delivered/s | vs bare ws | heap per idle connection (B) |
| --- | --- | --- | --- |
${row("gateway (/ws, all-tasks subscription)", gatewayRuns, gatewayRate)}
${row("bare ws broadcast, same frames", bareRuns, bareRate)}

Bar: the gateway delivers at least 0.5x the bare broadcast's events per second.
`;
writeSection("realtime-fanout", section);
console.log(section);
process.exit(0);
