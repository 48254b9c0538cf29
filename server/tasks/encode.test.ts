import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  EncodeOperation,
  EncodeTaskSchema,
  Encoding,
} from "../../gen/noizylab/agent/v1/encode_pb.js";
import { encodeTask } from "./encode.js";
import { testContext } from "./task-testing.js";

function run(encoding: Encoding, operation: EncodeOperation, input: string | Uint8Array) {
  const value = create(EncodeTaskSchema, {
    input:
      typeof input === "string" ? { case: "text", value: input } : { case: "data", value: input },
    encoding,
    operation,
  });
  return encodeTask.run(value, testContext().context);
}

const bytes = new Uint8Array([0xfb, 0xff, 0x00, 0x41, 0x20]);

describe("encode task", () => {
  it.each([
    [Encoding.BASE64, "+/8AQSA="],
    [Encoding.BASE64URL, "-_8AQSA"],
    [Encoding.HEX, "fbff004120"],
    [Encoding.URL, "%FB%FF%00A%20"],
  ])("encodes bytes with encoding %s and decodes them back", async (encoding, text) => {
    const encoded = await run(encoding, EncodeOperation.ENCODE, bytes);
    expect(encoded.text).toBe(text);
    const decoded = await run(encoding, EncodeOperation.DECODE, text);
    expect(Buffer.from(decoded.data).equals(bytes)).toBe(true);
    expect(decoded.validUtf8).toBe(false);
    expect(decoded.text).toBe("");
  });

  it("round-trips UTF-8 text through URL encoding", async () => {
    const encoded = await run(Encoding.URL, EncodeOperation.ENCODE, "café & crème/?");
    expect(encoded.text).toBe("caf%C3%A9%20%26%20cr%C3%A8me%2F%3F");
    const decoded = await run(Encoding.URL, EncodeOperation.DECODE, encoded.text);
    expect(decoded.text).toBe("café & crème/?");
    expect(decoded.validUtf8).toBe(true);
  });

  it("accepts base64 broken over lines, as pasted from email", async () => {
    const decoded = await run(Encoding.BASE64, EncodeOperation.DECODE, "aGVs\nbG8g\r\nd29y bGQ=");
    expect(decoded.text).toBe("hello world");
  });

  it.each([
    [Encoding.BASE64, "aGVsbG8!", 'unexpected character "!" at offset 7'],
    [Encoding.BASE64, "aGVsbG8", "not a multiple of 4"],
    [Encoding.BASE64URL, "aGV+", 'unexpected character "+"'],
    [Encoding.HEX, "abc", "odd length"],
    [Encoding.HEX, "zz", 'unexpected character "z"'],
    [Encoding.URL, "100%", "not followed by two hex digits"],
  ])("refuses malformed %s input %j", async (encoding, text, why) => {
    await expect(run(encoding, EncodeOperation.DECODE, text)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining(why),
    });
  });
});
