// The worker pool (issue: task library): the p99 latency of a small RPC while text-analysis
// tasks keep every worker busy, against its idle p99; and text-analysis MB/s and
// image-metadata images/s through the server, against the same work done by calling the
// handlers directly in one thread, in the same run. Medians to bench/RESULTS.md. Run with
// `npm run bench:task-pool`.
import { rmSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { create } from "@bufbuild/protobuf";
import sharp from "sharp";
import { createAgentClient } from "../clients/node/client.js";
import { ImageMetadataTaskSchema } from "../gen/noizylab/agent/v1/image_metadata_pb.js";
import { TextAnalysisTaskSchema } from "../gen/noizylab/agent/v1/text_analysis_pb.js";
import { imageMetadataTask } from "../server/tasks/image-metadata.js";
import { testContext } from "../server/tasks/task-testing.js";
import { textAnalysisTask } from "../server/tasks/text-analysis.js";
import { spawnAgent, tempDir } from "../server/test-support.js";
import { median, writeSection } from "./results-file.js";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const latencyCalls = Number(process.env.BENCH_LATENCY_CALLS ?? 400);
const workers = availableParallelism();

const paragraph =
  "Our shop delivers fresh bread every morning. The bakers start before sunrise, and customers love how the bread reaches their door while it is still warm. ";
const text = paragraph.repeat(Math.ceil((512 * 1024) / paragraph.length));
const textMb = Buffer.byteLength(text) / (1024 * 1024);
const texts = 8;

const picture = await sharp({
  create: {
    width: 1600,
    height: 1200,
    channels: 3,
    background: "#000000",
    noise: { type: "gaussian", mean: 120, sigma: 40 },
  },
})
  .jpeg()
  .toBuffer();
const images = 24;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

/** latency times `latencyCalls` GetTask calls one after another: p50 and p99 in ms. */
async function latency(client: ReturnType<typeof createAgentClient>, taskId: string) {
  const times: number[] = [];
  for (let i = 0; i < latencyCalls; i++) {
    const started = performance.now();
    const { task } = await client.tasks.getTask({ taskId });
    times.push(performance.now() - started);
    if (task?.id !== taskId) throw new Error("wrong task");
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function measure() {
  const dataDir = tempDir("cloudagent-bench-");
  const agent = await spawnAgent(dataDir, {
    CLOUDAGENT_RATE_LIMIT_PER_SECOND: "1000000",
    CLOUDAGENT_RATE_LIMIT_BURST: "1000000",
    CLOUDAGENT_MAX_CONCURRENT_TASKS: String(workers * 4),
  });
  try {
    const client = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
    const { task } = await client.tasks.submit({
      spec: { task: { case: "echo", value: { text: "probe" } } },
    });
    const taskId = task?.id ?? "";
    // Warm the workers and the JIT.
    await Promise.all(
      Array.from({ length: workers }, () => client.run({ case: "textAnalysis", value: { text } })),
    );
    await latency(client, taskId);
    const idle = await latency(client, taskId);

    // Keep twice as many text analyses in flight as there are workers.
    let loading = true;
    const load = Promise.all(
      Array.from({ length: workers * 2 }, async () => {
        while (loading) await client.run({ case: "textAnalysis", value: { text } });
      }),
    );
    const busy = await latency(client, taskId);
    loading = false;
    await load;

    let started = performance.now();
    await Promise.all(
      Array.from({ length: texts }, () => client.run({ case: "textAnalysis", value: { text } })),
    );
    const serverMbPerSecond = (texts * textMb) / ((performance.now() - started) / 1000);
    started = performance.now();
    await Promise.all(
      Array.from({ length: images }, () =>
        client.run({ case: "imageMetadata", value: { source: { case: "data", value: picture } } }),
      ),
    );
    const serverImagesPerSecond = images / ((performance.now() - started) / 1000);
    return { idle, busy, serverMbPerSecond, serverImagesPerSecond };
  } finally {
    agent.child.kill("SIGTERM");
    await agent.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** direct runs the handlers themselves, one after another in this thread: the libraries' speed. */
async function direct() {
  const { context } = testContext();
  let started = performance.now();
  for (let i = 0; i < texts; i++) {
    await textAnalysisTask.run(create(TextAnalysisTaskSchema, { text }), context);
  }
  const mbPerSecond = (texts * textMb) / ((performance.now() - started) / 1000);
  started = performance.now();
  for (let i = 0; i < images; i++) {
    await imageMetadataTask.run(
      create(ImageMetadataTaskSchema, { source: { case: "data", value: picture } }),
      context,
    );
  }
  const imagesPerSecond = images / ((performance.now() - started) / 1000);
  return { mbPerSecond, imagesPerSecond };
}

const server: Awaited<ReturnType<typeof measure>>[] = [];
const raw: Awaited<ReturnType<typeof direct>>[] = [];
for (let run = 0; run < runs; run++) {
  if (run % 2 === 0) {
    server.push(await measure());
    raw.push(await direct());
  } else {
    raw.push(await direct());
    server.push(await measure());
  }
  const s = server.at(-1);
  const r = raw.at(-1);
  console.log(
    `run ${run + 1}: p99 idle ${s?.idle.p99.toFixed(2)} ms, busy ${s?.busy.p99.toFixed(2)} ms; ` +
      `text ${s?.serverMbPerSecond.toFixed(2)} MB/s (direct ${r?.mbPerSecond.toFixed(2)}); ` +
      `images ${s?.serverImagesPerSecond.toFixed(1)}/s (direct ${r?.imagesPerSecond.toFixed(1)})`,
  );
}

const m = (values: number[]) => median(values);
const idleP50 = m(server.map((s) => s.idle.p50));
const idleP99 = m(server.map((s) => s.idle.p99));
const busyP50 = m(server.map((s) => s.busy.p50));
const busyP99 = m(server.map((s) => s.busy.p99));
const serverMb = m(server.map((s) => s.serverMbPerSecond));
const rawMb = m(raw.map((r) => r.mbPerSecond));
const serverImages = m(server.map((s) => s.serverImagesPerSecond));
const rawImages = m(raw.map((r) => r.imagesPerSecond));
const ms = (value: number) => value.toFixed(2);
const section = `## The worker pool

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}, ${workers} worker threads.
Latency: ${latencyCalls} \`TaskService.GetTask\` calls one after another, with the pool idle, then
with ${workers * 2} \`text-analysis\` tasks of ${Math.round(textMb * 1024)} KB in flight all along (every worker busy).
Throughput: ${texts} such texts and ${images} noisy 1600×1200 JPEGs submitted at once to the server,
against the same handlers called one after another in a single thread (the libraries' own
speed: Intl.Segmenter, franc and sentiment; sharp). Median of ${runs} runs, alternating order.

| measure | idle pool | busy pool | ratio |
| --- | --- | --- | --- |
| GetTask p50 (ms) | ${ms(idleP50)} | ${ms(busyP50)} | ${(busyP50 / idleP50).toFixed(2)}x |
| GetTask p99 (ms) | ${ms(idleP99)} | ${ms(busyP99)} | ${(busyP99 / idleP99).toFixed(2)}x |

| work | through the server | handlers called directly | ratio |
| --- | --- | --- | --- |
| text-analysis (MB/s) | ${serverMb.toFixed(2)} | ${rawMb.toFixed(2)} | ${(serverMb / rawMb).toFixed(2)}x |
| image-metadata (images/s) | ${serverImages.toFixed(1)} | ${rawImages.toFixed(1)} | ${(serverImages / rawImages).toFixed(2)}x |

Bar: the p99 with every worker busy stays within 2x of the idle p99 (the workers run at a
lower scheduling priority than the event loop). The server's figures include the RPCs, the
commits of each task with its input and events, and the copies to and from the workers: with
${workers} workers on ${cpus().length} cores it passes the single thread on text, while each ${Math.round(picture.byteLength / 1024)} KB image is
first committed to disk with its task (sharp, called directly, also decodes on threads of its
own).`;
writeSection("task-pool", section);
console.log(section);
process.exit(0);
