import { Code, ConnectError } from "@connectrpc/connect";

/** A Codec writes bytes as text and reads such text back, refusing malformed input. */
export interface Codec {
  encode(bytes: Buffer): string;
  /** decode throws an InvalidArgument ConnectError naming the first malformed character. */
  decode(text: string): Buffer;
}

function malformed(name: string, text: string, offset: number, why?: string): ConnectError {
  const found = offset < text.length ? `${JSON.stringify(text[offset])} at offset ${offset}` : "";
  return new ConnectError(
    `input is not valid ${name}: ${why ?? `unexpected character ${found}`}`,
    Code.InvalidArgument,
  );
}

function checkAlphabet(name: string, text: string, alphabet: RegExp): void {
  for (let i = 0; i < text.length; i++) {
    if (!alphabet.test(text[i] as string)) throw malformed(name, text, i);
  }
}

const base64: Codec = {
  encode: (bytes) => bytes.toString("base64"),
  decode(input) {
    // MIME-style line breaks and spaces are common in pasted base64; they carry no data.
    const text = input.replace(/\s+/g, "");
    const body = text.replace(/={1,2}$/, "");
    checkAlphabet("base64", body, /[A-Za-z0-9+/]/);
    if (text.length % 4 !== 0) {
      throw malformed("base64", text, text.length, `length ${text.length} is not a multiple of 4`);
    }
    return Buffer.from(body, "base64");
  },
};

const base64url: Codec = {
  encode: (bytes) => bytes.toString("base64url"),
  decode(input) {
    const body = input.replace(/={1,2}$/, "");
    checkAlphabet("base64url", body, /[A-Za-z0-9_-]/);
    if (body.length % 4 === 1) {
      throw malformed("base64url", body, body.length, "truncated: one character too many");
    }
    return Buffer.from(body, "base64url");
  },
};

const hex: Codec = {
  encode: (bytes) => bytes.toString("hex"),
  decode(text) {
    checkAlphabet("hex", text, /[0-9a-fA-F]/);
    if (text.length % 2 !== 0) {
      throw malformed("hex", text, text.length, `odd length ${text.length}`);
    }
    return Buffer.from(text, "hex");
  },
};

// RFC 3986 unreserved characters pass; every other byte is written as %XX.
const unreserved = /[A-Za-z0-9\-._~]/;

const url: Codec = {
  encode(bytes) {
    let out = "";
    for (const byte of bytes) {
      const char = String.fromCharCode(byte);
      out += unreserved.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
    return out;
  },
  decode(text) {
    const bytes = Buffer.from(text, "utf8");
    const out = Buffer.alloc(bytes.length);
    let length = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x25) {
        const pair = bytes.subarray(i + 1, i + 3).toString("latin1");
        if (!/^[0-9a-fA-F]{2}$/.test(pair)) {
          throw malformed(
            "URL encoding",
            text,
            i,
            `"%" at byte ${i} is not followed by two hex digits`,
          );
        }
        out[length++] = Number.parseInt(pair, 16);
        i += 2;
      } else {
        out[length++] = bytes[i] as number;
      }
    }
    return out.subarray(0, length);
  },
};

/** codecs holds the text encodings of the encode task by name. */
export const codecs = { base64, base64url, hex, url } as const;
