import { create } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import {
  CsvColumnType,
  CsvParserResultSchema,
  CsvParserTaskSchema,
} from "../../gen/noizylab/plugins/v1/csv_parser_pb.js";
import { startTestAgent, type TestAgent } from "../../server/test-support.js";
import { parseCsv } from "./parse-csv.js";

const defaults = {
  delimiter: "",
  quote: '"',
  header: true,
  inferTypes: true,
  trim: false,
  maxRows: 0,
};

/** cell is a parsed value as a plain one. */
const cell = (value: Value) => (value.kind.case === "nullValue" ? null : value.kind.value);

/** plain turns parsed rows into plain values, for comparing. */
function plain(text: string, options: Partial<typeof defaults> = {}) {
  const result = parseCsv(text, { ...defaults, ...options });
  return {
    columns: result.columns.map((c) => [c.name, CsvColumnType[c.type]]),
    rows: result.rows.map((row) => [row.line, ...row.values.map(cell)]),
    errors: result.errors.map((e) => [e.line, e.message]),
    delimiter: result.delimiter,
    truncated: result.truncated,
  };
}

describe("parseCsv", () => {
  it("reads quoted fields: delimiters, doubled quotes and line breaks inside, and the lines rows start on", () => {
    const text = [
      "name,quote,year",
      '"Smith, Jane","She said ""hi""",1999',
      "",
      '"multi',
      'line",plain,2001',
      'O"Brien,"",2002',
    ].join("\r\n");
    expect(plain(text)).toEqual({
      columns: [
        ["name", "STRING"],
        ["quote", "STRING"],
        ["year", "INTEGER"],
      ],
      rows: [
        [2, "Smith, Jane", 'She said "hi"', 1999],
        [4, "multi\r\nline", "plain", 2001],
        // A quote inside an unquoted field is text; "" is an empty field.
        [6, 'O"Brien', null, 2002],
      ],
      errors: [],
      delimiter: ",",
      truncated: false,
    });
  });

  it("reports a row with the wrong number of fields and an unclosed quote by line, and reads the rows between", () => {
    const text = 'a,b,c\n1,2,3\n4,5\n\n6,7,8\n"never closed,9,9\n10,11,12\n';
    const result = plain(text);
    expect(result.rows).toEqual([
      [2, 1, 2, 3],
      [5, 6, 7, 8],
    ]);
    expect(result.errors).toEqual([
      [3, "has 2 fields; the header has 3"],
      [6, "a quoted field is never closed: the rest of the text is in it"],
    ]);
  });

  it("infers types per column: leading zeros stay text, booleans in any case, empty is null", () => {
    const text = "zip;price;ok;note;blank\n007;1.50;TRUE;x;\n010;-2e3;false;;\n";
    const result = plain(text);
    expect(result.delimiter).toBe(";");
    expect(result.columns).toEqual([
      ["zip", "STRING"],
      ["price", "NUMBER"],
      ["ok", "BOOLEAN"],
      ["note", "STRING"],
      ["blank", "EMPTY"],
    ]);
    expect(result.rows).toEqual([
      [2, "007", 1.5, true, "x", null],
      [3, "010", -2000, false, null, null],
    ]);
    expect(plain(text, { inferTypes: false }).rows[0]).toEqual([
      2,
      "007",
      "1.50",
      "TRUE",
      "x",
      null,
    ]);
  });

  it("names columns without a header, detects tabs and pipes, trims, and stops at max_rows", () => {
    expect(plain("1\t2\n3\t4\n", { header: false }).columns).toEqual([
      ["column_1", "INTEGER"],
      ["column_2", "INTEGER"],
    ]);
    expect(plain("a| b \n x |2\n", { trim: true }).rows).toEqual([[2, "x", 2]]);
    const limited = plain("n\n1\n2\n3\n", { maxRows: 2 });
    expect(limited.rows).toEqual([
      [2, 1],
      [3, 2],
    ]);
    expect(limited.truncated).toBe(true);
    expect(plain("n\n1\n2\n", { maxRows: 2 }).truncated).toBe(false);
  });
});

describe("the csv-parser plugin on a server", () => {
  let server: TestAgent;
  beforeAll(async () => {
    server = await startTestAgent({ maxMessageBytes: 64 * 1024 * 1024, workerThreads: 2 });
  });
  afterAll(() => server.stop());

  const submit = (client: ReturnType<typeof createAgentClient>, text: string) =>
    client.tasks.submit({
      spec: {
        task: {
          case: "plugin",
          value: {
            type: "csv-parser",
            input: anyPack(CsvParserTaskSchema, create(CsvParserTaskSchema, { text })),
          },
        },
      },
      timeoutMs: 60_000,
    });

  it("parses a 20 MB CSV on a worker thread while the server keeps answering", async () => {
    const client = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const rows = 440_000;
    const lines = Array.from(
      { length: rows },
      (_, i) => `${i},"name ${i}, the ${i}th",${i / 2},true`,
    );
    lines[rows - 2] = "broken,row";
    const text = `id,name,half,ok\n${lines.join("\n")}\n`;
    expect(text.length).toBeGreaterThan(20_000_000);
    const { task } = await submit(client, text);
    const started = performance.now();
    expect((await client.run({ case: "echo", value: { text: "still here" } })).text).toBe(
      "still here",
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    for await (const _ of client.tasks.watchTask({ taskId: task?.id ?? "" })) {
      // Read to the end: the task's last event.
    }
    const { task: done } = await client.tasks.getTask({ taskId: task?.id ?? "" });
    const output =
      done?.result?.result.case === "plugin" ? done.result.result.value.output : undefined;
    const result = output && anyUnpack(output, CsvParserResultSchema);
    expect(result?.rows.length).toBe(rows - 1);
    expect(result?.errors).toEqual([
      expect.objectContaining({ line: rows, message: "has 2 fields; the header has 4" }),
    ]);
    expect(result?.rows.at(-1)?.values.map((v) => v.kind.value)).toEqual([
      rows - 1,
      `name ${rows - 1}, the ${rows - 1}th`,
      (rows - 1) / 2,
      true,
    ]);
    // The parse takes ~14 s of a worker thread here and the whole test ~20 s when it runs
    // alone, which a busy two-core machine stretches past vitest's default 30 s. What is
    // tested is the 2 s above, not the total.
  }, 90_000);

  it("refuses a CSV over the message limit with resource_exhausted, and serves on", async () => {
    const small = await startTestAgent({ maxMessageBytes: 4 * 1024 * 1024 });
    try {
      const client = createAgentClient({ baseUrl: small.url.href, apiKey: small.apiKey });
      const text = "a,b\n".repeat(1_500_000);
      const error = await submit(client, text).catch(ConnectError.from);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
      const input = create(CsvParserTaskSchema, { text: "a,b\n1,2\n" });
      const result = await client.run({
        case: "plugin",
        value: { type: "csv-parser", input: anyPack(CsvParserTaskSchema, input) },
      });
      const parsed = result.output && anyUnpack(result.output, CsvParserResultSchema);
      expect(parsed?.rows[0]?.values.map((v) => v.kind.value)).toEqual([1, 2]);
    } finally {
      await small.stop();
    }
  });
});
