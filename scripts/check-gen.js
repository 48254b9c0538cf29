#!/usr/bin/env node
// Fails when a gen/ folder is not what `npx buf generate` makes from its protos today: the
// server's, and the example plugin's.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

/** The buf modules with generated code: each has its buf.gen.yaml and gen/ folder. */
const modules = [".", "examples/plugins/slugify"];
const buf = resolve("node_modules", ".bin", "buf");

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

let failed = false;
for (const module of modules) {
  const out = mkdtempSync(join(tmpdir(), "cloudagent-gen-"));
  try {
    execFileSync(buf, ["generate", "-o", out], { stdio: "inherit", cwd: module });
    const fresh = join(out, "gen");
    const gen = join(module, "gen");
    const expected = files(fresh);
    const actual = files(gen);
    const stale = [
      ...expected.filter(
        (f) =>
          !actual.includes(f) || !readFileSync(join(fresh, f)).equals(readFileSync(join(gen, f))),
      ),
      ...actual.filter((f) => !expected.includes(f)),
    ];
    if (stale.length > 0) {
      console.error(
        `${gen} is stale; run npx buf generate in ${module} and commit. Differs: ${stale.join(", ")}`,
      );
      failed = true;
    } else {
      console.log(`${gen} is up to date (${expected.length} files)`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
if (failed) process.exit(1);
