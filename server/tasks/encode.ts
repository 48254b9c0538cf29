import { create } from "@bufbuild/protobuf";
import {
  EncodeOperation,
  EncodeOperationSchema,
  EncodeResultSchema,
  EncodeTaskSchema,
  Encoding,
  EncodingSchema,
} from "../../gen/noizylab/agent/v1/encode_pb.js";
import { type Codec, codecs } from "./codecs.js";
import { checkEnum } from "./task-errors.js";
import { defineTask } from "./task-handler.js";
import { decodeUtf8, inputBytes } from "./task-input.js";

const codecOf: Record<Encoding, Codec> = {
  [Encoding.UNSPECIFIED]: codecs.base64,
  [Encoding.BASE64]: codecs.base64,
  [Encoding.BASE64URL]: codecs.base64url,
  [Encoding.HEX]: codecs.hex,
  [Encoding.URL]: codecs.url,
};

/** encodeTask encodes bytes as base64, base64url, hex or URL encoding, or decodes them back. */
export const encodeTask = defineTask({
  field: "encode",
  description: "Encodes bytes as base64, base64url, hex or URL percent-encoding, or decodes them.",
  requestSchema: EncodeTaskSchema,
  resultSchema: EncodeResultSchema,
  cost: "linear",
  pure: true,
  validate(input, path) {
    checkEnum(`${path}.encoding`, input.encoding, EncodingSchema);
    checkEnum(`${path}.operation`, input.operation, EncodeOperationSchema);
  },
  async run(input) {
    const codec = codecOf[input.encoding];
    const bytes = inputBytes(input.input);
    if (input.operation === EncodeOperation.DECODE) {
      const data = codec.decode(bytes.toString("utf8"));
      const text = decodeUtf8(data);
      return create(EncodeResultSchema, {
        text: text ?? "",
        data,
        validUtf8: text !== undefined,
        inputBytes: BigInt(bytes.byteLength),
        outputBytes: BigInt(data.byteLength),
      });
    }
    const text = codec.encode(bytes);
    return create(EncodeResultSchema, {
      text,
      inputBytes: BigInt(bytes.byteLength),
      outputBytes: BigInt(text.length),
    });
  },
});
