import { join } from "node:path";
import type { AgentConfig } from "../config.js";
import { createPgStore } from "./postgres/pg-store.js";
import { createSqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./store.js";

/**
 * openStore opens the store the config names, applying any missing migrations: PostgreSQL
 * when databaseUrl is set, else the embedded SQLite file in dataDir. instanceId names the
 * agent instance using it.
 */
export async function openStore(config: AgentConfig, instanceId: string): Promise<Store> {
  if (config.databaseUrl === "") {
    return createSqliteStore({ path: join(config.dataDir, "cloudagent.db") });
  }
  return createPgStore({
    url: config.databaseUrl,
    poolSize: config.databasePoolSize,
    instanceId,
  });
}
