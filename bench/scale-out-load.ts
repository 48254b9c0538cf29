// The load side of the scale-out benchmark, in its own process: many callers each running
// echo tasks to completion (TaskService.Run: submit, then follow to the result), spread over
// the instances by the Node client's balancer. Every answer is checked. The parent asks for
// the count of completed tasks ("mark") and ends the load ("stop").
import { createAgentClient } from "../clients/node/client.js";

interface Start {
  readonly urls: readonly string[];
  readonly apiKey: string;
  readonly concurrency: number;
}

let completed = 0;
let running = true;

process.on("message", (message: Start | "mark" | "stop") => {
  if (message === "mark") {
    process.send?.({ completed });
    return;
  }
  if (message === "stop") {
    running = false;
    return;
  }
  const client = createAgentClient({ baseUrl: message.urls, apiKey: message.apiKey });
  const caller = async () => {
    for (let i = 0; running; i++) {
      const text = `bench ${i}`;
      const result = await client.run({ case: "echo", value: { text } });
      // A wrong answer fails the run: it must not count as fast.
      if (result.text !== text) throw new Error(`unexpected answer: ${JSON.stringify(result)}`);
      completed++;
    }
  };
  Promise.all(Array.from({ length: message.concurrency }, caller)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.send?.({ error: String(error) });
      process.exit(1);
    },
  );
});
