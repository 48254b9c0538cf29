import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const resultsPath = join(import.meta.dirname, "RESULTS.md");

/** writeSection replaces (or appends) one benchmark's section of bench/RESULTS.md. */
export function writeSection(name: string, markdown: string): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const section = `${start}\n${markdown.trim()}\n${end}`;
  let results =
    "# Benchmark results\n\nWritten by the scripts in bench/; each section by its own script.\n";
  try {
    results = readFileSync(resultsPath, "utf8");
  } catch {
    // First run: start the file.
  }
  const i = results.indexOf(start);
  const j = results.indexOf(end);
  results =
    i >= 0 && j > i
      ? results.slice(0, i) + section + results.slice(j + end.length)
      : `${results.trimEnd()}\n\n${section}\n`;
  writeFileSync(resultsPath, results);
  // Aligned as the project's formatter wants it, so `npm run check` passes after a run.
  execFileSync(join(import.meta.dirname, "..", "node_modules", ".bin", "biome"), [
    "format",
    "--write",
    resultsPath,
  ]);
}

/** median is the middle value. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
