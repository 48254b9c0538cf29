// A worker thread of the task pool. The sources are TypeScript: like bin/cloudagent.js, this
// plain module registers tsx's hooks (Node does not pass them on to workers), then loads them.
import { register } from "tsx/esm/api";

register();
await import("./task-worker.ts");
