// The load side of the door benchmark, in its own process: Submit calls of an echo task from
// many concurrent callers for a while; every answer is checked.
import { createAgentClient } from "../clients/node/client.js";

interface Start {
  readonly url: string;
  readonly apiKey?: string;
  readonly sign: boolean;
  readonly concurrency: number;
  readonly durationMs: number;
}

process.once("message", async (start: Start) => {
  const client = createAgentClient({
    baseUrl: start.url,
    protocol: "grpc",
    apiKey: start.apiKey,
    sign: start.sign,
  });
  let done = 0;
  const until = performance.now() + start.durationMs;
  const started = performance.now();
  const caller = async () => {
    while (performance.now() < until) {
      const { task } = await client.tasks.submit({
        spec: { task: { case: "echo", value: { text: "bench" } } },
      });
      // A wrong answer fails the run: it must not count as fast.
      if (task?.type !== "echo") throw new Error(`unexpected answer: ${JSON.stringify(task)}`);
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: start.concurrency }, caller));
    process.send?.({ perSecond: done / ((performance.now() - started) / 1000) });
  } catch (error) {
    process.send?.({ error: String(error) });
  }
  process.exit(0);
});
