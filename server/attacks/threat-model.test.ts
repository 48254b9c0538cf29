// The threat model of docs/security.md and the attack suite are one list: each row of the
// table names a test of the suite, in its file, and each test of the suite is a row.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

/** The table's rows, as "file: attack". */
function rowsOfTable(): string[] {
  const doc = readFileSync(join(root, "docs", "security.md"), "utf8");
  const table = doc.slice(doc.indexOf("## The threat model")).split("\n## ")[0] ?? "";
  return table
    .split("\n")
    .filter((line) => line.startsWith("| ") && line.includes(".test.ts"))
    .map((line) => {
      const cells = line.split("|").map((cell) => cell.trim());
      return `${cells[4]?.replaceAll("`", "")}: ${cells[1]}`;
    });
}

/** The suite's tests, as "file: name", file by file in the table's order. */
function testsOfSuite(files: string[]): string[] {
  return files.flatMap((file) =>
    [...readFileSync(join(import.meta.dirname, file), "utf8").matchAll(/\n {2}it\("([^"]+)"/g)].map(
      (match) => `${file}: ${match[1]}`,
    ),
  );
}

describe("the threat model", () => {
  it("is the attack suite, row by row", () => {
    const rows = rowsOfTable();
    const files = [...new Set(rows.map((row) => row.split(":")[0] ?? ""))];
    const attackFiles = readdirSync(import.meta.dirname).filter(
      (file) => file.endsWith(".test.ts") && file !== "threat-model.test.ts",
    );
    expect([...files].sort()).toEqual(attackFiles.sort());
    expect(rows).toEqual(testsOfSuite(files));
    expect(rows.length).toBeGreaterThanOrEqual(20);
  });
});
