import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  DigestEncoding,
  DigestEncodingSchema,
  HashAlgorithm,
  HashAlgorithmSchema,
  HashResultSchema,
  HashTaskSchema,
} from "../../gen/noizylab/agent/v1/hash_pb.js";
import { checkEnum } from "./task-errors.js";
import { defineTask } from "./task-handler.js";
import { inputBytes } from "./task-input.js";

const nodeAlgorithms: Record<HashAlgorithm, string> = {
  [HashAlgorithm.UNSPECIFIED]: "sha256",
  [HashAlgorithm.MD5]: "md5",
  [HashAlgorithm.SHA1]: "sha1",
  [HashAlgorithm.SHA256]: "sha256",
  [HashAlgorithm.SHA512]: "sha512",
};

/** hashTask computes an MD5, SHA-1, SHA-256 or SHA-512 digest in hex or base64. */
export const hashTask = defineTask({
  field: "hash",
  description: "Computes an MD5, SHA-1, SHA-256 or SHA-512 digest, in hex or base64.",
  requestSchema: HashTaskSchema,
  resultSchema: HashResultSchema,
  cost: "linear",
  pure: true,
  validate(input, path) {
    checkEnum(`${path}.algorithm`, input.algorithm, HashAlgorithmSchema);
    checkEnum(`${path}.encoding`, input.encoding, DigestEncodingSchema);
  },
  async run(input) {
    const bytes = inputBytes(input.input);
    const algorithm = input.algorithm || HashAlgorithm.SHA256;
    const encoding = input.encoding || DigestEncoding.HEX;
    const digest = createHash(nodeAlgorithms[algorithm])
      .update(bytes)
      .digest(encoding === DigestEncoding.BASE64 ? "base64" : "hex");
    return create(HashResultSchema, {
      digest,
      algorithm,
      encoding,
      inputBytes: BigInt(bytes.byteLength),
    });
  },
});
