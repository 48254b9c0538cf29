import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "server/**/*.test.ts",
      "clients/**/*.test.ts",
      "plugins/**/*.test.ts",
      "examples/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    // The attack suite runs apart, after these (see vitest.attacks.config.ts).
    exclude: ["**/node_modules/**", "server/attacks/**"],
    // A throwaway PostgreSQL server for the tests of the PostgreSQL store and of scale-out.
    globalSetup: ["server/store/postgres/postgres-global-setup.ts"],
    // Some tests start servers and child processes; none depends on the machine's speed.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
