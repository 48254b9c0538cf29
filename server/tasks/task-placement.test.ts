import { create } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { TaskSpecSchema } from "../../gen/noizylab/agent/v1/task_pb.js";
import { createWorkerPool, type WorkerPool } from "../workers/worker-pool.js";
import { createTaskRegistry } from "./registry.js";
import { inlineInputBytes } from "./task-handler.js";
import { testContext } from "./task-testing.js";

// The real pool, with a count of the jobs it was given.
const real = createWorkerPool({ size: 1, maxThreadsPerKey: 1 });
let jobs = 0;
const pool: WorkerPool = {
  size: real.size,
  run: (job) => {
    jobs++;
    return real.run(job);
  },
  close: () => real.close(),
};
afterAll(() => pool.close());
const registry = createTaskRegistry(undefined, pool);

/** placeOf runs a spec and says where it ran. */
async function placeOf(task: Parameters<typeof create<typeof TaskSpecSchema>>[1]) {
  const spec = create(TaskSpecSchema, task);
  const before = jobs;
  const result = await registry.run(spec, testContext().context);
  return { result, onPool: jobs > before };
}

describe("where a task runs", () => {
  it("keeps constant work on the event loop, sends heavy work to the pool", async () => {
    expect((await placeOf({ task: { case: "uuid", value: { count: 3 } } })).onPool).toBe(false);
    const heavy = await placeOf({
      task: { case: "jsonValidator", value: { schema: '{"type":"string"}', document: '"x"' } },
    });
    expect(heavy.onPool).toBe(true);
    expect(heavy.result.result).toMatchObject({ case: "jsonValidator", value: { valid: true } });
  });

  it("runs linear work on the event loop while its input is small, else on the pool", async () => {
    const echo = (size: number) => ({
      task: { case: "echo" as const, value: { text: "x".repeat(size) } },
    });
    expect((await placeOf(echo(1_000))).onPool).toBe(false);
    const large = await placeOf(echo(inlineInputBytes + 1));
    expect(large.onPool).toBe(true);
    expect(large.result.result).toMatchObject({ case: "echo" });
    const spec = (size: number) => create(TaskSpecSchema, echo(size));
    expect(registry.runsAsSubmitted(spec(10), 20)).toBe(true);
    expect(registry.runsAsSubmitted(spec(10), inlineInputBytes + 100)).toBe(false);
    // A pure type whose work is constant runs as it is submitted, however large its spec.
    const uuid = create(TaskSpecSchema, { task: { case: "uuid", value: { count: 1 } } });
    expect(registry.runsAsSubmitted(uuid, inlineInputBytes * 2)).toBe(true);
  });
});
