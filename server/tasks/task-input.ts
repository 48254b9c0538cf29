/** TextOrData is the `oneof input { string text; bytes data; }` several task messages share. */
export type TextOrData =
  | { case: "text"; value: string }
  | { case: "data"; value: Uint8Array }
  | { case: undefined; value?: undefined };

/** inputBytes is the bytes of a text-or-data input: a text's UTF-8 encoding, or the data. */
export function inputBytes(input: TextOrData): Buffer {
  switch (input.case) {
    case "text":
      return Buffer.from(input.value, "utf8");
    case "data":
      return Buffer.from(input.value.buffer, input.value.byteOffset, input.value.byteLength);
    default:
      return Buffer.alloc(0);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** decodeUtf8 is the bytes as text, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
