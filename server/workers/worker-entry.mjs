// A worker thread of the task pool. The sources are TypeScript: like bin/cloudagent.js, this
// plain module registers tsx's hooks (Node does not pass them on to workers), then loads them.
import { setPriority } from "node:os";
import { register } from "tsx/esm/api";

// On Linux a nice value is a thread's own: the worker yields the CPU to the event loop, which
// keeps answering requests while every worker is busy.
try {
  setPriority(10);
} catch {
  // Not permitted here: the worker runs at the process's priority.
}
register();
await import("./task-worker.ts");
