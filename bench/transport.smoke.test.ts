import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

// The benchmark suite's smoke: every server starts, and every workload is answered right
// (a few requests each, no figures judged).
it("npm run bench -- --smoke: every workload answers right on every server", async () => {
  const script = join(import.meta.dirname, "transport.ts");
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", script, "--smoke"],
    {
      cwd: join(import.meta.dirname, ".."),
      timeout: 120_000,
    },
  );
  expect(stderr).toContain("Ping, grpc, 100 B:");
  expect(stderr).toContain("PingStream of 1,000 messages");
}, 150_000);
