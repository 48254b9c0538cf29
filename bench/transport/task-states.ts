// Reads how far our server's engine got with the tasks it was given, from its SQLite file.
import { join } from "node:path";
import Database from "better-sqlite3";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { ServerUnderTest } from "./server-process.js";

/** TaskStates is how many tasks of a server are in each state, by the state's name. */
export type TaskStates = Partial<Record<keyof typeof TaskState, number>>;

/** taskStatesOf reads the tasks of our server by state (read-only, next to the server). */
export function taskStatesOf(server: ServerUnderTest): TaskStates {
  if (server.dataDir === undefined) throw new Error(`${server.name} keeps no tasks`);
  const db = new Database(join(server.dataDir, "cloudagent.db"), { readonly: true });
  try {
    const rows = db
      .prepare<[], { state: TaskState; n: number }>(
        "SELECT state, COUNT(*) AS n FROM tasks GROUP BY state",
      )
      .all();
    return Object.fromEntries(
      rows.map(({ state, n }) => [TaskState[state] as keyof typeof TaskState, n]),
    );
  } finally {
    db.close();
  }
}
