// Cost of the whole door (issue: security): Submit calls of an echo task with a key, a signed
// request, rate limiting and the audit trail all on, against the same calls with all of them
// off (the path opened to everyone, audit off), in one run, alternating; medians to
// bench/RESULTS.md. Run with `npm run bench:door`.
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { createAgentClient } from "../clients/node/client.js";
import { Scope } from "../gen/noizylab/agent/v1/key_service_pb.js";
import { createAgent } from "../server/agent.js";
import { loadConfig } from "../server/config.js";
import { adminKey, tempDir } from "../server/test-support.js";
import { median, writeSection } from "./results-file.js";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);

type Variant = "door on" | "door off";

async function measure(variant: Variant): Promise<number> {
  const dataDir = tempDir("cloudagent-bench-");
  const on = variant === "door on";
  const config = {
    ...loadConfig({ env: {} }),
    port: 0,
    dataDir,
    audit: on ? "on" : "off",
    openPaths: on ? "" : "*",
    // High enough that the bucket is checked on every call but never runs dry.
    rateLimitPerSecond: 1_000_000,
    rateLimitBurst: 1_000_000,
  };
  const agent = await createAgent({ config, log: () => {} });
  const url = await agent.start();
  let apiKey: string | undefined;
  if (on) {
    const admin = createAgentClient({ baseUrl: url.href, apiKey: adminKey(dataDir) });
    ({ key: apiKey } = await admin.keys.createKey({
      name: "bench",
      scopes: [Scope.TASKS_SUBMIT],
      requireSignature: true,
    }));
  }
  const load = fork(join(import.meta.dirname, "door-load.ts"), [], {
    execArgv: ["--import", "tsx"],
  });
  const result = await new Promise<{ perSecond?: number; error?: string }>((resolve) => {
    load.once("message", resolve);
    load.send({ url: url.href, apiKey, sign: on, concurrency, durationMs });
  });
  await agent.stop();
  rmSync(dataDir, { recursive: true, force: true });
  if (result.error || result.perSecond === undefined)
    throw new Error(`${variant}: ${result.error}`);
  return result.perSecond;
}

const results: Record<Variant, number[]> = { "door on": [], "door off": [] };
for (let run = 0; run < runs; run++) {
  const order: Variant[] = run % 2 === 0 ? ["door on", "door off"] : ["door off", "door on"];
  for (const variant of order) {
    const perSecond = await measure(variant);
    results[variant].push(perSecond);
    console.log(`run ${run + 1} ${variant}: ${Math.round(perSecond)} requests/s`);
  }
}
const on = median(results["door on"]);
const off = median(results["door off"]);
const section = `## The door's cost

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}.
\`TaskService.Submit\` of an \`echo\` task over gRPC (committed on SQLite before the answer),
${concurrency} concurrent callers in a second process for ${durationMs / 1000} s; median of ${runs} runs,
alternating order.

| door | requests/s | ratio |
| --- | --- | --- |
| on: key, signature required, rate limit checked, audit on | ${Math.round(on).toLocaleString("en")} | ${(on / off).toFixed(2)}x |
| off: path open, no signature, audit off | ${Math.round(off).toLocaleString("en")} | 1.00x |

Bar: the door on keeps at least 0.7x of the requests per second with it off.`;
writeSection("door", section);
console.log(section);
process.exit(0);
