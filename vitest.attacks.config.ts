import { defineConfig } from "vitest/config";

// The attack suite (server/attacks, the threat model of docs/security.md): run after the
// other tests, one file at a time, so that each attack's canary times the server under that
// attack alone.
export default defineConfig({
  test: {
    include: ["server/attacks/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
