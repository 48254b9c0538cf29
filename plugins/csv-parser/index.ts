import {
  CsvParserResultSchema,
  CsvParserTaskSchema,
} from "../../gen/noizylab/plugins/v1/csv_parser_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { invalidField } from "../../server/tasks/task-errors.js";
import { parseCsv } from "./parse-csv.js";

function checkCharacter(field: string, value: string): void {
  if (value !== "" && [...value].length !== 1) {
    throw invalidField(field, `must be one character, got ${JSON.stringify(value)}`);
  }
  if (value === "\n" || value === "\r") throw invalidField(field, "cannot be a line break");
}

/** The csv-parser task. */
export const csvParserTask = definePluginTask({
  type: "csv-parser",
  description:
    "Parses CSV (delimiter detected or given, quoted fields, header row) into typed rows, reporting rows it cannot read by line.",
  request: CsvParserTaskSchema,
  result: CsvParserResultSchema,
  cost: "heavy",
  validate(input, path) {
    checkCharacter(`${path}.delimiter`, input.delimiter);
    checkCharacter(`${path}.quote`, input.quote);
    if (input.delimiter !== "" && input.delimiter === input.quote) {
      throw invalidField(`${path}.quote`, "must differ from the delimiter");
    }
  },
  run(input, context) {
    context.progress(0, `parsing ${input.text.length} characters`);
    return parseCsv(input.text, {
      delimiter: input.delimiter,
      quote: input.quote || '"',
      header: input.header ?? true,
      inferTypes: input.inferTypes ?? true,
      trim: input.trim,
      maxRows: input.maxRows,
    });
  },
});

/** The csv-parser plugin: CSV text into typed rows, with per-row errors. */
export default definePlugin({
  name: "csv-parser",
  version: "1.0.0",
  tasks: [csvParserTask],
});
