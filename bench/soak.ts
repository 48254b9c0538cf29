// npm run bench:soak (by hand, not in CI): our server at half its top rate of gRPC Pings for
// ten minutes (--minutes N to change), its live heap sampled after a collection every ten
// seconds; the slope of a line fitted to the samples after the first minute goes in the
// "soak" section of bench/RESULTS.md. A leak shows as a slope that does not flatten.
import { writeSection } from "./results-file.js";
import { checkEchoes } from "./transport/check.js";
import { ensureH2load, load } from "./transport/h2load.js";
import { startAgent } from "./transport/server-process.js";
import { pingRequest } from "./transport/workloads.js";

const minutesAt = process.argv.indexOf("--minutes");
const minutes = minutesAt === -1 ? 10 : Number(process.argv[minutesAt + 1]);
if (!(minutes > 0)) throw new Error("--minutes takes a number of minutes above 0");
ensureH2load();
const server = await startAgent("cloudagent");
const samples: [minute: number, bytes: number][] = [];
const sampler = setInterval(() => {
  server.collectGarbage().then((bytes) => samples.push([Date.now() / 60_000, bytes]));
}, 10_000);
try {
  const { port, headers } = server;
  const request = pingRequest("grpc", 100);
  await checkEchoes(port, "grpc", request, headers, 100);
  const common = { port, request, headers, connections: 8, streams: 4 };
  const top = await load({ ...common, length: { seconds: 5 } });
  const rate = Math.round(top.requestsPerSecond / 2);
  console.error(
    `top rate ${Math.round(top.requestsPerSecond)} req/s; soaking at ${rate} for ${minutes} min`,
  );
  const started = samples.length;
  const soak = await load({
    ...common,
    length: { seconds: minutes * 60 },
    ratePerConnection: Math.ceil(rate / 8),
  });
  if (soak.failed > 0) throw new Error(`${soak.failed} calls failed during the soak`);
  const points = samples
    .slice(started)
    .filter(([minute]) => minute - (samples[started]?.[0] ?? 0) >= 1);
  const slope = slopeOf(points) / (1024 * 1024);
  const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
  writeSection(
    "soak",
    `## Soak (npm run bench:soak)

cloudagent at half its top rate of gRPC Pings (${rate} req/s of ${Math.round(top.requestsPerSecond)}), ${minutes} minutes,
${Math.round(soak.requestsPerSecond * minutes * 60).toLocaleString("en")} calls, none failed. Live heap after a collection, every
10 s: ${mb(points[0]?.[1] ?? 0)} MB after the first minute, ${mb(points.at(-1)?.[1] ?? 0)} MB at the end; fitted slope
**${slope.toFixed(3)} MB per minute** (the bar: under 1).`,
  );
  console.error(`heap slope ${slope.toFixed(3)} MB/min`);
} finally {
  clearInterval(sampler);
  await server.stop();
}

/** slopeOf is the slope of the least-squares line through the points, per x unit. */
function slopeOf(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / n;
  const mx = mean(points.map(([x]) => x));
  const my = mean(points.map(([, y]) => y));
  const covariance = points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  return covariance / variance;
}
