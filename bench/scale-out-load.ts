// The load side of the scale-out benchmark, in its own process: echo tasks run to completion
// (TaskService.Run: submit, then follow to the result), spread over the instances by the
// Node client's balancer; every answer is checked. Either as fast as `concurrency` callers
// can go (closed loop), or started at a fixed rate (open loop, for the CPU cost of a task at
// a load every setup carries alike). The parent asks for the count of completed tasks
// ("mark").
import { setTimeout as sleep } from "node:timers/promises";
import { createAgentClient } from "../clients/node/client.js";

interface Start {
  readonly urls: readonly string[];
  readonly apiKey: string;
  /** Closed loop: this many callers, each running one task after another. */
  readonly concurrency?: number;
  /** Open loop: this many tasks started per second. */
  readonly perSecond?: number;
}

let completed = 0;

function fail(error: unknown): never {
  process.send?.({ error: String(error) });
  process.exit(1);
}

process.on("message", (message: Start | "mark") => {
  if (message === "mark") {
    process.send?.({ completed });
    return;
  }
  const client = createAgentClient({ baseUrl: message.urls, apiKey: message.apiKey });
  let sequence = 0;
  const runOne = async () => {
    const text = `bench ${sequence++}`;
    const result = await client.run({ case: "echo", value: { text } });
    // A wrong answer fails the run: it must not count as fast.
    if (result.text !== text) throw new Error(`unexpected answer: ${JSON.stringify(result)}`);
    completed++;
  };
  if (message.perSecond !== undefined) {
    const intervalMs = 1000 / message.perSecond;
    (async () => {
      for (let next = performance.now(); ; next += intervalMs) {
        await sleep(Math.max(0, next - performance.now()));
        runOne().catch(fail);
      }
    })();
    return;
  }
  const caller = async () => {
    for (;;) await runOne();
  };
  for (let i = 0; i < (message.concurrency ?? 1); i++) caller().catch(fail);
});
