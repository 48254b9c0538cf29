// npm run bench: our transport against raw node:http2, @grpc/grpc-js and connect-node's stock
// adapter, each its own process, driven by h2load; every answer checked first. Writes the
// "transport" section of bench/RESULTS.md. `--smoke` only checks that every workload answers
// right (CI runs it), with a few requests each and no figures.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { median, writeSection } from "./results-file.js";
import { checkEchoes, checkSubmit } from "./transport/check.js";
import { ensureH2load, type LoadResult, load } from "./transport/h2load.js";
import { measureIdleConnections } from "./transport/idle-connections.js";
import { type ServerUnderTest, startAgent, startPeer } from "./transport/server-process.js";
import { type TaskStates, taskStatesOf } from "./transport/task-states.js";
import {
  type Protocol,
  pingRequest,
  pingStreamRequest,
  type RequestShape,
  submitRequest,
} from "./transport/workloads.js";

const smoke = process.argv.includes("--smoke");
// --only TEXT measures only the workloads whose name has TEXT (and writes no results);
// "--only idle" measures only the memory of idle connections. A run with --only prints its
// figures instead.
const only = process.argv[process.argv.indexOf("--only") + 1];
const filter = process.argv.includes("--only") ? only : undefined;
const runs = smoke ? 1 : 3;
const length = smoke ? { requests: 64 } : { seconds: 5 };

ensureH2load();
const starts = {
  raw: () => startPeer("raw-http2", { PAYLOAD_BYTES: "100" }),
  grpcJs: () => startPeer("grpc-js"),
  stock: () => startPeer("stock-connect"),
  ours: () =>
    startAgent("cloudagent", {
      CLOUDAGENT_AUDIT: "off",
      // The idle-connection reading opens 1,000 connections from one address (past the
      // default cap of 256 an address); the other rows use 8.
      CLOUDAGENT_MAX_CONNECTIONS_PER_ADDRESS: "2000",
    }),
};
const servers = {
  raw: await starts.raw(),
  grpcJs: await starts.grpcJs(),
  stock: await starts.stock(),
  ours: await starts.ours(),
};
const door = await startAgent("cloudagent-door");
const all: ServerUnderTest[] = [...Object.values(servers), door];

/** Row is one workload measured on some servers: a figure (higher is better) per server. */
interface Row {
  readonly name: string;
  readonly unit: string;
  readonly figures: Map<string, number>;
}
const rows: Row[] = [];

interface Workload {
  readonly name: string;
  readonly unit: string;
  readonly servers: readonly ServerUnderTest[];
  readonly request: RequestShape;
  /**
   * check sends one request to a server and throws unless the answer is right; it returns
   * the answer's body size.
   */
  readonly check: (server: ServerUnderTest) => Promise<number>;
  readonly connections?: number;
  readonly streams?: number;
  readonly http1?: boolean;
  /** Keep per-request durations, for latency. */
  readonly perRequest?: boolean;
  /** Which figure of a run to keep; requests per second by default. */
  readonly figure?: (result: LoadResult) => number;
  /**
   * A server that takes its turns in this row on a request of its own: grpc-js, on its gRPC
   * Ping, in the row whose bar is set against that (it speaks no Connect). A ratio of figures
   * measured in the same turns is not moved by the machine's drift between rows.
   */
  readonly peer?: {
    readonly server: ServerUnderTest;
    readonly request: RequestShape;
    readonly check: (server: ServerUnderTest) => Promise<number>;
  };
}

/** echoCheck checks a server answers `count` echoes of the payload. */
const echoCheck =
  (protocol: Protocol, request: RequestShape, payloadBytes: number, count = 1) =>
  (server: ServerUnderTest) =>
    checkEchoes(server.port, protocol, request, server.headers, payloadBytes, count);

async function measure(workload: Workload): Promise<void> {
  if (filter !== undefined && !workload.name.includes(filter)) return;
  const { peer } = workload;
  const servers = peer ? [...workload.servers, peer.server] : workload.servers;
  // What a server is asked: the peer its own request, the others the row's.
  const askedOf = (server: ServerUnderTest) => (server === peer?.server ? peer : workload);
  const sizes = new Map<string, number>();
  for (const server of servers) sizes.set(server.name, await askedOf(server).check(server));
  const figures = new Map<string, number[]>(servers.map((s) => [s.name, []]));
  // Runs take turns between the servers, so a noisy moment hits them all alike.
  for (let run = 0; run < runs; run++) {
    for (const server of servers) {
      const port = workload.http1 ? server.http1Port : server.port;
      if (port === undefined) throw new Error(`${server.name} does not serve HTTP/1.1`);
      const result = await load({
        port,
        request: askedOf(server).request,
        headers: server.headers,
        connections: workload.connections ?? 8,
        streams: workload.http1 ? 1 : (workload.streams ?? 4),
        length,
        ...(workload.http1 ? { http1: true } : {}),
        ...(workload.perRequest ? { perRequest: true } : {}),
      });
      // Every answer a success of the checked answer's size (give or take its timestamps'
      // digits); the calls in flight when the warm-up ended are counted in one figure only.
      const inFlight = (workload.connections ?? 8) * (workload.streams ?? 4);
      const size = (sizes.get(server.name) ?? 0) * 0.97;
      if (
        result.failed > 0 ||
        result.succeeded === 0 ||
        Math.abs(result.ok - result.succeeded) > inFlight ||
        result.dataBytes < result.ok * size
      ) {
        const { durationsUs: _, ...counts } = result;
        throw new Error(`${workload.name} on ${server.name}: ${JSON.stringify(counts)}`);
      }
      figures.get(server.name)?.push((workload.figure ?? ((r) => r.requestsPerSecond))(result));
    }
  }
  const row = {
    name: workload.name,
    unit: workload.unit,
    figures: new Map([...figures].map(([name, values]) => [name, median(values)])),
  };
  rows.push(row);
  console.error(
    `${row.name}: ${[...row.figures].map(([n, v]) => `${n} ${Math.round(v)}`).join(", ")}`,
  );
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const { raw, grpcJs, stock, ours } = servers;
const grpcPing = pingRequest("grpc", 100);
try {
  for (const protocol of ["grpc", "connect", "connect-json", "grpc-web"] as const) {
    const sizes = protocol === "grpc" || protocol === "connect" ? [100, 1024, 65536] : [100];
    for (const payloadBytes of sizes) {
      const request = pingRequest(protocol, payloadBytes);
      const connectBar = protocol === "connect" && payloadBytes === 100;
      await measure({
        name: `Ping, ${protocol}, ${payloadBytes} B`,
        unit: "req/s",
        servers: [
          ...(payloadBytes === 100 ? [raw] : []),
          ...(protocol === "grpc" ? [grpcJs] : []),
          stock,
          ours,
        ],
        request,
        check: echoCheck(protocol, request, payloadBytes),
        ...(connectBar
          ? { peer: { server: grpcJs, request: grpcPing, check: echoCheck("grpc", grpcPing, 100) } }
          : {}),
      });
    }
  }
  // What a browser on a cleartext port speaks.
  for (const protocol of ["connect", "grpc-web"] as const) {
    const request = pingRequest(protocol, 100);
    await measure({
      name: `Ping, ${protocol}, 100 B, HTTP/1.1`,
      unit: "req/s",
      servers: [stock, ours],
      request,
      check: echoCheck(protocol, request, 100),
      http1: true,
    });
  }
  for (const p of [50, 99]) {
    await measure({
      name: `Ping, grpc, 100 B, one call at a time: p${p} latency`,
      unit: "µs, lower is better",
      servers: [raw, grpcJs, stock, ours],
      request: grpcPing,
      check: echoCheck("grpc", grpcPing, 100),
      connections: 1,
      streams: 1,
      perRequest: true,
      figure: (result) => percentile(result.durationsUs, p),
    });
  }
  const stream = pingStreamRequest(100, 1_000);
  await measure({
    name: "PingStream of 1,000 messages, grpc, 100 B",
    unit: "messages/s",
    servers: [grpcJs, stock, ours],
    request: stream,
    check: echoCheck("grpc", stream, 100, 1_000),
    connections: 4,
    streams: 1,
    figure: (result) => result.requestsPerSecond * 1_000,
  });
  await measure({
    name: "Ping, grpc, 100 B, through the whole door (key, rate limit, audit)",
    unit: "req/s",
    servers: [ours, door],
    request: grpcPing,
    check: echoCheck("grpc", grpcPing, 100),
  });
  // Last: the tasks it queues keep the engine busy for a while after it ends.
  const submit = submitRequest();
  await measure({
    name: "TaskService.Submit of an echo task, grpc, committed before the answer",
    unit: "req/s",
    servers: [ours],
    request: submit,
    check: (server) => checkSubmit(server, submit),
  });
  // The engine runs the submitted tasks on the same event loop, as they are submitted or
  // meanwhile: how far it got says what the Submit figure includes.
  const submitted = rows.at(-1)?.name.startsWith("TaskService.Submit") ? taskStatesOf(ours) : {};
  // Memory is read on fresh processes: after the load above, what a collector gives back to
  // the system moves resident memory more than a thousand idle connections do. One fresh
  // process's reading moves by several KB per connection (where its allocator happens to
  // grow), so each server is started `runs` times, in turns, and the median is reported.
  const idle = new Map<string, number[]>();
  const idleMeasured = filter === undefined || "idle connections".includes(filter);
  for (let run = 0; run < (idleMeasured ? runs : 0); run++) {
    const inTurn = Object.values(starts);
    for (const start of run % 2 === 0 ? inTurn : inTurn.reverse()) {
      const server = await start();
      try {
        const perConnection = await measureIdleConnections(server, grpcPing, smoke ? 20 : 1_000);
        idle.set(server.name, [...(idle.get(server.name) ?? []), perConnection]);
      } finally {
        await server.stop();
      }
    }
  }
  // The smoke renders the report too, so a full run cannot fail at its last step.
  const section = report(idle, submitted);
  if (!smoke && filter === undefined) writeSection("transport", section);
  else if (!smoke) console.log(section);
} finally {
  await Promise.all(all.map((server) => server.stop()));
}

function versionOf(name: string): string {
  const path = join(import.meta.dirname, "..", "node_modules", name, "package.json");
  return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
}

/**
 * report is the RESULTS.md section: the machine, versions, each figure with its ratios, and
 * how far the engine got with the tasks of the Submit row.
 */
function report(idle: Map<string, number[]>, submitted: TaskStates): string {
  const names = ["raw-http2", "grpc-js", "stock-connect", "cloudagent"];
  const cell = (value: number | undefined) =>
    value === undefined ? "" : Math.round(value).toLocaleString("en");
  const idleCell = (readings: number[] | undefined) =>
    readings === undefined
      ? ""
      : `${cell(median(readings))} B (${cell(Math.min(...readings))}–${cell(Math.max(...readings))})`;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "" : `${(a / b).toFixed(2)}x`;
  const grpcJsPing = rows.find((row) => row.name === "Ping, grpc, 100 B")?.figures.get("grpc-js");
  const table = rows.map((row) => {
    const ours = row.figures.get("cloudagent");
    // The bars for Submit and for Connect binary are set against grpc-js's gRPC Ping: the
    // Connect row measured it in its own turns.
    const versus =
      row.name.startsWith("TaskService.Submit") || row.name === "Ping, connect, 100 B"
        ? ratio(ours, row.figures.get("grpc-js") ?? grpcJsPing)
        : row.name.includes("whole door")
          ? ratio(row.figures.get("cloudagent-door"), ours)
          : ratio(ours, row.figures.get("grpc-js"));
    return `| ${row.name} (${row.unit}) | ${names.map((n) => cell(row.figures.get(n))).join(" | ")} | ${versus} | ${ratio(ours, row.figures.get("stock-connect"))} |`;
  });
  const total = (states: TaskStates) => Object.values(states).reduce((sum, n) => sum + n, 0);
  const h2loadVersion = execFileSync("h2load", ["--version"]).toString().trim().split("\n")[0];
  return `## Transport (npm run bench)

Each server is its own process on loopback, driven by ${h2loadVersion} (8 connections × 4
streams unless the row says otherwise, ${runs} runs of 5 s after a warm-up second, medians; the
servers take turns). Every workload's answer is checked before it is measured. Machine:
${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, @grpc/grpc-js
${versionOf("@grpc/grpc-js")}, @connectrpc/connect-node ${versionOf("@connectrpc/connect-node")}.
cloudagent runs with its API key checked on every call and the audit off; the door row turns
the audit on (\`cloudagent-door\`).

| workload | raw http2 (canned) | grpc-js | stock connect | cloudagent | cloudagent vs grpc-js | cloudagent vs stock |
| --- | --- | --- | --- | --- | --- | --- |
${table.join("\n")}

"vs grpc-js" for Submit and for Connect binary (100 B) is against grpc-js's gRPC Ping (the
bars): in the Connect binary row, grpc-js's figure is its gRPC Ping of 100 B, measured there in
turns with the others; Submit's is the first row's (grpc-js taking turns with it would share the
machine with the engine still running the submitted tasks). For the door row it is the door
against cloudagent without the audit. Latency ratios:
lower is better. The raw peer ends each stream with its answer, as servers on node:http2
usually do, and so pays for an error node:http2 makes (with its stack trace) for a write still
pending when the stream closes; cloudagent ends a Connect answer after its last write instead.

The engine runs the submitted tasks on the same event loop as the calls: an echo task, of a pure
type, runs as it is submitted while no task waits, and is committed finished (see docs/api.md);
the others are queued and run meanwhile. When the Submit row ended (its warm-ups and checks included), ${cell(submitted.SUCCEEDED ?? 0)} of the ${cell(total(submitted))} tasks
submitted had run and ${cell(submitted.QUEUED ?? 0)} were still queued.

Resident memory per idle HTTP/2 connection (1,000 connections, each after one call, on a freshly
started server, each reading after a full collection; the median of ${runs} starts, their range
in brackets):
${names.map((n) => `${n} ${idleCell(idle.get(n))}`).join(", ")}.
`;
}
