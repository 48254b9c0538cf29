import type { TestProject } from "vitest/node";
import { startThrowawayPostgres } from "./throwaway-postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The URL of the throwaway PostgreSQL server the tests share (its `postgres` database). */
    postgresUrl: string;
  }
}

/**
 * The test run's PostgreSQL: started once before the tests, removed after. Tests make their
 * own databases on it (see createTestDatabase), so they never see each other's rows.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const server = await startThrowawayPostgres();
  project.provide("postgresUrl", server.url);
  return () => server.destroy();
}
