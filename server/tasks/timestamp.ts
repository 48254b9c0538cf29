import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DateTime, IANAZone } from "luxon";
import {
  TimestampResultSchema,
  type TimestampTask,
  TimestampTaskSchema,
} from "../../gen/noizylab/agent/v1/timestamp_pb.js";
import { invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

// The range of ECMAScript dates: ±100,000,000 days around the epoch.
const maxUnixMs = 8.64e15;
// The longest text and patterns: a date is short, and the task runs on the event loop.
const maxTextLength = 256;

function checkZone(field: string, zone: string): void {
  if (zone !== "" && !IANAZone.isValidZone(zone)) {
    throw invalidField(field, `unknown IANA time zone ${JSON.stringify(zone)}`);
  }
}

function parseText(input: TimestampTask, text: string): DateTime {
  const options = { zone: input.fromTimeZone || "UTC", locale: input.locale || "en-US" };
  if (input.parseFormat !== "") {
    const parsed = DateTime.fromFormat(text, input.parseFormat, options);
    if (parsed.isValid) return parsed;
    throw new ConnectError(
      `could not parse ${JSON.stringify(text)} with pattern ${JSON.stringify(input.parseFormat)}: ${parsed.invalidExplanation}`,
      Code.InvalidArgument,
    );
  }
  for (const parse of [
    DateTime.fromISO,
    DateTime.fromRFC2822,
    DateTime.fromHTTP,
    DateTime.fromSQL,
  ]) {
    const parsed = parse(text, options);
    if (parsed.isValid) return parsed;
  }
  throw new ConnectError(
    `could not parse ${JSON.stringify(text)} as ISO 8601, RFC 2822, an HTTP date or SQL; set parse_format for other layouts`,
    Code.InvalidArgument,
  );
}

function instantOf(input: TimestampTask): DateTime {
  switch (input.input.case) {
    case "text":
      return parseText(input, input.input.value);
    case "unixMs":
      return DateTime.fromMillis(Number(input.input.value));
    default:
      return DateTime.now();
  }
}

/** timestampTask parses, formats and converts a point in time across IANA time zones. */
export const timestampTask = defineTask({
  field: "timestamp",
  description: "Parses, formats and converts a point in time across IANA time zones.",
  requestSchema: TimestampTaskSchema,
  resultSchema: TimestampResultSchema,
  cost: "constant",
  pure: true,
  validate(input, path) {
    const texts = {
      text: input.input.case === "text" ? input.input.value : "",
      parse_format: input.parseFormat,
      format: input.format,
    };
    for (const [field, text] of Object.entries(texts)) {
      if (text.length > maxTextLength) {
        throw invalidField(
          `${path}.${field}`,
          `must be at most ${maxTextLength} characters, got ${text.length}`,
        );
      }
    }
    checkZone(`${path}.from_time_zone`, input.fromTimeZone);
    checkZone(`${path}.to_time_zone`, input.toTimeZone);
    if (input.input.case === "unixMs") {
      const ms = input.input.value;
      if (ms < -maxUnixMs || ms > maxUnixMs) {
        throw invalidField(`${path}.unix_ms`, `must be between -${maxUnixMs} and ${maxUnixMs}`);
      }
    }
    if (input.locale !== "") {
      try {
        Intl.getCanonicalLocales(input.locale);
      } catch {
        throw invalidField(
          `${path}.locale`,
          `${JSON.stringify(input.locale)} is not a BCP 47 locale`,
        );
      }
    }
  },
  async run(input) {
    const instant = instantOf(input)
      .setZone(input.toTimeZone || "UTC")
      .setLocale(input.locale || "en-US");
    const unixMs = instant.toMillis();
    return create(TimestampResultSchema, {
      unixMs: BigInt(unixMs),
      unixSeconds: BigInt(Math.floor(unixMs / 1000)),
      isoUtc: instant.toUTC().toISO() ?? "",
      iso: instant.toISO() ?? "",
      rfc2822: instant.toRFC2822() ?? "",
      formatted:
        input.format !== ""
          ? instant.toFormat(input.format)
          : instant.toLocaleString(DateTime.DATETIME_FULL),
      timeZone: instant.zoneName ?? "UTC",
      offsetMinutes: instant.offset,
      offsetName: instant.offsetNameShort ?? "",
      isDst: instant.isInDST,
      dayOfWeek: instant.weekday,
      dayOfYear: instant.ordinal,
      isoWeek: instant.weekNumber,
    });
  },
});
