import { create } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type CsvError, parse } from "csv-parse/sync";
import {
  type CsvColumn,
  CsvColumnType,
  type CsvParserResult,
  CsvParserResultSchema,
  type CsvRowError,
} from "../../gen/noizylab/plugins/v1/csv_parser_pb.js";

/** CsvOptions are a CsvParserTask's settings, defaults applied. */
export interface CsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  readonly header: boolean;
  readonly inferTypes: boolean;
  readonly trim: boolean;
  /** 0 reads every row. */
  readonly maxRows: number;
}

const candidates = [",", ";", "\t", "|"];

/**
 * detectDelimiter picks the candidate that occurs most often in the first line, outside
 * quotes; "," when none does.
 */
export function detectDelimiter(text: string, quote: string): string {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const char of text) {
    if (char === quote) quoted = !quoted;
    else if (!quoted && (char === "\n" || char === "\r")) break;
    else if (!quoted && candidates.includes(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
  }
  let best = ",";
  for (const [char, count] of counts) if (count > (counts.get(best) ?? 0)) best = char;
  return best;
}

const integer = /^[-+]?(?:0|[1-9]\d*)$/;
const number = /^[-+]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$|^[-+]?\.\d+$/;
const boolean = /^(?:true|false)$/i;

/** typeOf is the narrowest type every non-empty value fits. */
function typeOf(values: Iterable<string>): CsvColumnType {
  let fits = { integer: true, number: true, boolean: true, any: false };
  for (const value of values) {
    if (value === "") continue;
    fits = {
      integer: fits.integer && integer.test(value) && Number.isSafeInteger(Number(value)),
      number: fits.number && number.test(value),
      boolean: fits.boolean && boolean.test(value),
      any: true,
    };
    if (!fits.number && !fits.boolean) return CsvColumnType.STRING;
  }
  if (!fits.any) return CsvColumnType.EMPTY;
  if (fits.integer) return CsvColumnType.INTEGER;
  if (fits.number) return CsvColumnType.NUMBER;
  return fits.boolean ? CsvColumnType.BOOLEAN : CsvColumnType.STRING;
}

const nullValue = create(ValueSchema, { kind: { case: "nullValue", value: 0 } });

function cellValue(text: string, type: CsvColumnType): Value {
  if (text === "") return nullValue;
  switch (type) {
    case CsvColumnType.INTEGER:
    case CsvColumnType.NUMBER:
      return create(ValueSchema, { kind: { case: "numberValue", value: Number(text) } });
    case CsvColumnType.BOOLEAN:
      return create(ValueSchema, {
        kind: { case: "boolValue", value: text.toLowerCase() === "true" },
      });
    default:
      return create(ValueSchema, { kind: { case: "stringValue", value: text } });
  }
}

/** rowError says in words what is wrong with a row csv-parse skipped. */
function rowError(error: CsvError, width: number | undefined, header: boolean): string {
  switch (error.code) {
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH": {
      const fields = (error as CsvError & { record?: unknown[] }).record?.length;
      return `has ${fields} fields; the ${header ? "header" : "first row"} has ${width}`;
    }
    case "CSV_QUOTE_NOT_CLOSED":
      return "a quoted field is never closed: the rest of the text is in it";
    default:
      return error.message;
  }
}

interface ParsedRow {
  readonly line: number;
  readonly fields: string[];
}

/**
 * parseCsv reads CSV text into typed rows. A row that cannot be read (a wrong number of
 * fields, a quote never closed) is reported with the line it starts on, and the rows after
 * it are still read. A quote inside an unquoted field is kept as text.
 */
export function parseCsv(text: string, options: CsvOptions): CsvParserResult {
  const delimiter = options.delimiter || detectDelimiter(text, options.quote);
  const rows: ParsedRow[] = [];
  const errors: Omit<CsvRowError, "$typeName">[] = [];
  // Where the last record (read or skipped) ended, and the blank lines skipped until then:
  // a record starts on the first line after both. csv-parse counts a CR LF inside a quoted
  // field as two lines; those are taken off again.
  const crlf = text.includes("\r\n");
  let overcount = 0;
  let lastLine = 0;
  let lastEmpty = 0;
  const startLine = (context: { lines: number; empty_lines: number }, fields?: string[]) => {
    if (crlf && fields) for (const field of fields) overcount += field.split("\r\n").length - 1;
    const line = lastLine + 1 + (context.empty_lines - lastEmpty);
    lastLine = context.lines - overcount;
    lastEmpty = context.empty_lines;
    return line;
  };
  const headerRows = options.header ? 1 : 0;
  // Rows are taken as they are read, in order with the errors, so each knows its line.
  parse(text, {
    delimiter,
    quote: options.quote,
    trim: options.trim,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    // One more than asked for, to tell whether the text goes on.
    ...(options.maxRows > 0 ? { to: options.maxRows + headerRows + 1 } : {}),
    on_record: (fields: string[], context) => {
      rows.push({ line: startLine(context, fields), fields });
      return null;
    },
    on_skip: (error) => {
      if (error === undefined) return;
      const context = error as CsvError & { lines: number; empty_lines: number };
      errors.push({
        line: startLine(context),
        message: rowError(error, rows[0]?.fields.length, options.header),
      });
    },
  });

  const names = options.header ? (rows.shift()?.fields ?? []) : [];
  const truncated = options.maxRows > 0 && rows.length > options.maxRows;
  if (truncated) rows.length = options.maxRows;
  const width = names.length || rows[0]?.fields.length || 0;
  const columns: Omit<CsvColumn, "$typeName">[] = Array.from({ length: width }, (_, i) => ({
    name: names[i] || `column_${i + 1}`,
    type: options.inferTypes
      ? typeOf(rows.map((row) => row.fields[i] ?? ""))
      : CsvColumnType.STRING,
  }));
  return create(CsvParserResultSchema, {
    columns,
    rows: rows.map(({ line, fields }) => ({
      line,
      values: fields.map((field, i) => cellValue(field, columns[i]?.type ?? CsvColumnType.STRING)),
    })),
    errors: errors.filter((error) => !truncated || error.line <= (rows.at(-1)?.line ?? 0)),
    delimiter,
    truncated,
  });
}
