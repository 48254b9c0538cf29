import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { DelayResultSchema, DelayTaskSchema } from "../../gen/noizylab/agent/v1/delay_pb.js";
import { checkRange } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

const maxDurationMs = 3_600_000;
const maxSteps = 1_000;

/** delayTask sleeps in equal steps with a progress event after each: streaming and cancellation. */
export const delayTask = defineTask({
  field: "delay",
  description: "Sleeps for duration_ms in equal steps, reporting progress after each step.",
  requestSchema: DelayTaskSchema,
  resultSchema: DelayResultSchema,
  cost: "constant",
  validate(input, path) {
    checkRange(`${path}.duration_ms`, input.durationMs, 0, maxDurationMs);
    checkRange(`${path}.steps`, input.steps, 0, maxSteps);
  },
  async run(input, { signal, progress }) {
    const steps = Math.max(1, input.steps);
    const started = performance.now();
    for (let step = 1; step <= steps; step++) {
      // Sleep until the step's planned end, so timer lateness does not add up over the steps.
      const due = (input.durationMs * step) / steps;
      await sleep(Math.max(0, due - (performance.now() - started)), undefined, { signal });
      progress((step / steps) * 100, `step ${step} of ${steps}`);
    }
    return create(DelayResultSchema, {
      sleptMs: Math.round(performance.now() - started),
      steps,
    });
  },
});
