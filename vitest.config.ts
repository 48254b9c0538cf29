import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["server/**/*.test.ts", "clients/**/*.test.ts"],
    // Some tests start servers and child processes; none depends on the machine's speed.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
