import { create } from "@bufbuild/protobuf";
import { TaskResultSchema, TaskState } from "../gen/noizylab/agent/v1/task_pb.js";
import { resultEvent, stateChangeEvent } from "./engine/task-events.js";
import { createSqliteStore } from "./store/sqlite/sqlite-store.js";
import { newTask } from "./store/store-contract.js";
import { tempDir } from "./test-support.js";

const store = createSqliteStore({ path: `${tempDir()}/b.db` });
const running = (t: { id: string; attempts: number }) =>
  stateChangeEvent(t.id, TaskState.RUNNING, t.attempts + 1);
const lease = { owner: "me", expiresAt: Date.now() + 60_000 };
const result = create(TaskResultSchema, { result: { case: "echo", value: { text: "bench" } } });
const batch = Number(process.env.BATCH ?? 32);
const t0 = performance.now();
let n = 0;
const cpu0 = process.cpuUsage();
while (performance.now() - t0 < 4000) {
  const claimed = await Promise.all([
    ...Array.from({ length: batch }, () => store.insertTasks([newTask()])),
  ]).then(() => store.claimTasks(batch, running, lease));
  await Promise.all(
    claimed.map((c) =>
      store.appendEvent(resultEvent(c.task.id, result), [TaskState.RUNNING], "me", c.task),
    ),
  );
  n += batch;
}
const cpu = process.cpuUsage(cpu0);
console.log(
  `${n} tasks, ${(((performance.now() - t0) * 1000) / n).toFixed(1)} us/task wall, ${((cpu.user + cpu.system) / n).toFixed(1)} us/task cpu`,
);
await store.close();
