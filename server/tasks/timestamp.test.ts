import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TimestampTaskSchema } from "../../gen/noizylab/agent/v1/timestamp_pb.js";
import { testContext } from "./task-testing.js";
import { timestampTask } from "./timestamp.js";

type Init = Parameters<typeof create<typeof TimestampTaskSchema>>[1];

function run(init: Init) {
  const input = create(TimestampTaskSchema, init);
  timestampTask.validate(input, "spec.timestamp");
  return timestampTask.run(input, testContext().context);
}

describe("timestamp task", () => {
  it("converts an ISO time with an offset to another zone", async () => {
    const result = await run({
      input: { case: "text", value: "2024-07-01T12:00:00+02:00" },
      toTimeZone: "America/New_York",
    });
    expect(result.isoUtc).toBe("2024-07-01T10:00:00.000Z");
    expect(result.iso).toBe("2024-07-01T06:00:00.000-04:00");
    expect(result.offsetMinutes).toBe(-240);
    expect(result.isDst).toBe(true);
    expect(result.unixMs).toBe(1719828000000n);
    expect(result.dayOfWeek).toBe(1);
  });

  it("reads a wall-clock time in the source zone, across a daylight saving change", async () => {
    const winter = await run({
      input: { case: "text", value: "2024-01-15 09:30" },
      fromTimeZone: "Europe/Paris",
    });
    const summer = await run({
      input: { case: "text", value: "2024-07-15 09:30" },
      fromTimeZone: "Europe/Paris",
    });
    expect(winter.isoUtc).toBe("2024-01-15T08:30:00.000Z");
    expect(summer.isoUtc).toBe("2024-07-15T07:30:00.000Z");
  });

  it("parses RFC 2822 and formats with a pattern and a locale", async () => {
    const result = await run({
      input: { case: "text", value: "Tue, 01 Jul 2025 12:34:56 +0000" },
      toTimeZone: "Asia/Tokyo",
      format: "cccc d LLLL yyyy HH:mm",
      locale: "fr",
    });
    expect(result.formatted).toBe("mardi 1 juillet 2025 21:34");
    expect(result.timeZone).toBe("Asia/Tokyo");
  });

  it("parses with a custom pattern and converts from Unix milliseconds", async () => {
    const parsed = await run({
      input: { case: "text", value: "31/12/1999 23:59" },
      parseFormat: "dd/MM/yyyy HH:mm",
    });
    expect(parsed.isoUtc).toBe("1999-12-31T23:59:00.000Z");
    const fromMs = await run({ input: { case: "unixMs", value: 0n } });
    expect(fromMs.rfc2822).toBe("Thu, 01 Jan 1970 00:00:00 +0000");
    expect(fromMs.unixSeconds).toBe(0n);
  });

  it("refuses an unknown zone at validation and unparseable text when run", async () => {
    expect(() => run({ toTimeZone: "Mars/Olympus" })).toThrow(
      'spec.timestamp.to_time_zone: unknown IANA time zone "Mars/Olympus"',
    );
    expect(() => run({ input: { case: "text", value: "2026".repeat(65) } })).toThrow(
      "spec.timestamp.text: must be at most 256 characters, got 260",
    );
    expect(() => run({ parseFormat: "yyyy ".repeat(60) })).toThrow("spec.timestamp.parse_format");
    await expect(run({ input: { case: "text", value: "next tuesday-ish" } })).rejects.toMatchObject(
      {
        code: Code.InvalidArgument,
      },
    );
  });
});
