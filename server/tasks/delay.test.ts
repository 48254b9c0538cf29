import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DelayTaskSchema } from "../../gen/noizylab/agent/v1/delay_pb.js";
import { delayTask } from "./delay.js";
import { testContext } from "./task-testing.js";

describe("delay task", () => {
  it("sleeps in steps with one progress report each", async () => {
    const { context, reports } = testContext();
    const result = await delayTask.run(
      create(DelayTaskSchema, { durationMs: 40, steps: 4 }),
      context,
    );
    expect(reports.map((r) => r.percent)).toEqual([25, 50, 75, 100]);
    expect(reports[0]?.note).toBe("step 1 of 4");
    expect(result.steps).toBe(4);
    expect(result.sleptMs).toBeGreaterThanOrEqual(39);
  });

  it("stops when its signal aborts", async () => {
    const controller = new AbortController();
    const { context, reports } = testContext({ signal: controller.signal });
    const running = delayTask.run(
      create(DelayTaskSchema, { durationMs: 60_000, steps: 2 }),
      context,
    );
    controller.abort(new Error("stop"));
    await expect(running).rejects.toThrow();
    expect(reports).toEqual([]);
  });

  it("refuses a duration over an hour", () => {
    expect(() =>
      delayTask.validate(create(DelayTaskSchema, { durationMs: 3_600_001 }), "spec.delay"),
    ).toThrow("spec.delay.duration_ms: must be between 0 and 3600000, got 3600001");
  });
});
