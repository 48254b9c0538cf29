import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SmartRoutingTaskSchema, TaskSpecSchema } from "../../gen/noizylab/agent/v1/task_pb.js";
import { createDurationStats, routeSpec, specPriority } from "../engine/routing.js";
import { smartRoutingTask } from "./smart-routing.js";
import { testContext } from "./task-testing.js";

const route = (work: SmartRoutingTaskSchemaInit, durations = createDurationStats()) =>
  smartRoutingTask.run(
    create(SmartRoutingTaskSchema, { work }),
    testContext({ durations }).context,
  );
type SmartRoutingTaskSchemaInit = Parameters<
  typeof create<typeof SmartRoutingTaskSchema>
>[1] extends infer I
  ? I extends { work?: infer W }
    ? W
    : never
  : never;

const spec = (task: MessageInitShape<typeof TaskSpecSchema>) => create(TaskSpecSchema, task);

describe("smart-routing task", () => {
  it("scores a spec by its type, its payload and the type's baseline, and ranks quick work first", async () => {
    const echo = await route({
      case: "spec",
      value: spec({ task: { case: "echo", value: { text: "hi" } } }),
    });
    expect(echo.taskType).toBe("echo");
    expect(echo.factors.map((f) => f.name)).toEqual([
      "task type",
      "payload size",
      "recent durations",
    ]);
    const text = "Our bakery ships bread. ".repeat(5_000);
    const analysisSpec = spec({ task: { case: "textAnalysis", value: { text } } });
    const analysis = await route({ case: "spec", value: analysisSpec });
    expect(analysis.taskType).toBe("text-analysis");
    expect(analysis.complexity).toBeGreaterThan(echo.complexity + 20);
    expect(analysis.priority).toBeLessThan(echo.priority);
    const bytes = toBinary(TaskSpecSchema, analysisSpec).byteLength;
    expect(analysis.factors[1]?.reason).toBe(`${bytes} bytes of input`);
    expect(analysis.reasoning.at(-1)).toMatch(/^complexity [\d.]+ of 100, so priority \d+/);
    const delay = await route({
      case: "spec",
      value: spec({ task: { case: "delay", value: { durationMs: 30_000 } } }),
    });
    expect(delay.estimatedDurationMs).toBe(30_000);
  });

  it("learns from the durations of recent tasks of the type", async () => {
    const durations = createDurationStats();
    for (let i = 0; i < 4; i++) durations.record("hash", 2_000);
    const hash = await route(
      {
        case: "spec",
        value: spec({ task: { case: "hash", value: { input: { case: "text", value: "x" } } } }),
      },
      durations,
    );
    expect(hash.estimatedDurationMs).toBe(2_000);
    expect(hash.factors[2]?.reason).toBe("the last 4 hash tasks here took 2000 ms on average");
  });

  it("picks a task type for a description", async () => {
    expect(
      (await route({ case: "description", value: "check that our API endpoints answer" })).taskType,
    ).toBe("api-tester");
    expect(
      (await route({ case: "description", value: "Validate this JSON against our schema" }))
        .taskType,
    ).toBe("json-validator");
    expect(
      (await route({ case: "description", value: "what is the sentiment of these reviews" }))
        .taskType,
    ).toBe("text-analysis");
    const none = await route({ case: "description", value: "bake a cake" });
    expect(none).toMatchObject({ taskType: "", priority: 50 });
    expect(none.reasoning[0]).toMatch(/no task type fits/);
  });

  it("refuses work that is neither a spec nor a description", () => {
    expect(() =>
      smartRoutingTask.validate(create(SmartRoutingTaskSchema), "spec.smart_routing"),
    ).toThrow("spec.smart_routing: set spec or description");
    const long = create(SmartRoutingTaskSchema, {
      work: { case: "description", value: "hash it ".repeat(1_500) },
    });
    expect(() => smartRoutingTask.validate(long, "spec.smart_routing")).toThrow(
      "spec.smart_routing.description: must be at most 10000 characters, got 12000",
    );
  });

  it("gives submits the priority it explains (specPriority skips the explanation only)", () => {
    const durations = createDurationStats();
    for (const ms of [40, 60, 90]) durations.record("hash", ms);
    const specs = [
      spec({ task: { case: "echo", value: { text: "hi" } } }),
      spec({ task: { case: "echo", value: { text: "x".repeat(200_000) } } }),
      spec({ task: { case: "delay", value: { durationMs: 30_000 } } }),
      spec({
        task: { case: "hash", value: { input: { case: "data", value: new Uint8Array(5_000) } } },
      }),
      spec({ task: { case: "plugin", value: { type: "word-count" } } }),
      spec({}),
    ];
    for (const s of specs) {
      expect(specPriority(s, durations)).toBe(routeSpec(s, durations).priority);
    }
    const priorities = new Set(specs.map((s) => specPriority(s, durations)));
    expect(priorities.size).toBeGreaterThan(3);
  });
});
