#!/usr/bin/env node
// Fails when gen/ is not what `npx buf generate` makes from proto/ today.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const out = mkdtempSync(join(tmpdir(), "cloudagent-gen-"));
try {
  execFileSync(join("node_modules", ".bin", "buf"), ["generate", "-o", out], { stdio: "inherit" });
  const fresh = join(out, "gen");
  const expected = files(fresh);
  const actual = files("gen");
  const stale = [
    ...expected.filter(
      (f) =>
        !actual.includes(f) || !readFileSync(join(fresh, f)).equals(readFileSync(join("gen", f))),
    ),
    ...actual.filter((f) => !expected.includes(f)),
  ];
  if (stale.length > 0) {
    console.error(`gen/ is stale; run npx buf generate and commit. Differs: ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(`gen/ is up to date (${expected.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
