import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  DigestEncoding,
  HashAlgorithm,
  HashTaskSchema,
} from "../../gen/noizylab/agent/v1/hash_pb.js";
import { hashTask } from "./hash.js";
import { testContext } from "./task-testing.js";

// Digests of "abc" from FIPS 180-2 and RFC 1321.
const abc = {
  [HashAlgorithm.MD5]: "900150983cd24fb0d6963f7d28e17f72",
  [HashAlgorithm.SHA1]: "a9993e364706816aba3e25717850c26c9cd0d89d",
  [HashAlgorithm.SHA256]: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  [HashAlgorithm.SHA512]:
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
};

describe("hash task", () => {
  it.each(Object.entries(abc))(
    "computes algorithm %s of the published test vector",
    async (algorithm, hex) => {
      const input = create(HashTaskSchema, {
        input: { case: "text", value: "abc" },
        algorithm: Number(algorithm),
      });
      const result = await hashTask.run(input, testContext().context);
      expect(result.digest).toBe(hex);
      expect(result.inputBytes).toBe(3n);
    },
  );

  it("defaults to SHA-256 in hex and writes base64 on request", async () => {
    const bytes = new TextEncoder().encode("abc");
    const plain = await hashTask.run(
      create(HashTaskSchema, { input: { case: "data", value: bytes } }),
      testContext().context,
    );
    expect(plain.algorithm).toBe(HashAlgorithm.SHA256);
    expect(plain.digest).toBe(abc[HashAlgorithm.SHA256]);
    const base64 = await hashTask.run(
      create(HashTaskSchema, {
        input: { case: "data", value: bytes },
        encoding: DigestEncoding.BASE64,
      }),
      testContext().context,
    );
    expect(base64.digest).toBe("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  });

  it("refuses an algorithm the enum does not declare, naming the field", () => {
    const input = create(HashTaskSchema, { algorithm: 42 as HashAlgorithm });
    let caught: unknown;
    try {
      hashTask.validate(input, "spec.hash");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConnectError);
    expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
    expect((caught as ConnectError).rawMessage).toContain("spec.hash.algorithm");
  });
});
