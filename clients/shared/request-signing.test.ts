import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SubmitRequestSchema } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { nodeSigner } from "../node/node-signer.js";
import {
  deriveSigningKey,
  type RequestSigner,
  sha256Hex,
  signFields,
  stringToSign,
  webCryptoSigner,
} from "./request-signing.js";

interface Vectors {
  secret: string;
  keyId: string;
  signingKey: string;
  vectors: {
    name: string;
    path: string;
    timestamp: number;
    nonce: string;
    bodyHex: string;
    bodySha256: string;
    stringToSign: string;
    signature: string;
  }[];
}

// The vectors published in docs/, computed with another implementation (node:crypto).
const published = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "docs", "signing-test-vectors.json"), "utf8"),
) as Vectors;

describe("request signing", () => {
  it("derives the published signing key", async () => {
    expect(Buffer.from(await deriveSigningKey(published.secret)).toString("hex")).toBe(
      published.signingKey,
    );
  });

  it.each(published.vectors)("signs the published vector: $name", async (vector) => {
    const bodySha256 = await sha256Hex(Buffer.from(vector.bodyHex, "hex"));
    expect(bodySha256).toBe(vector.bodySha256);
    const fields = {
      keyId: published.keyId,
      timestamp: vector.timestamp,
      nonce: vector.nonce,
      path: vector.path,
      bodySha256,
    };
    expect(stringToSign(fields)).toBe(vector.stringToSign);
    expect(await signFields(await deriveSigningKey(published.secret), fields)).toBe(
      vector.signature,
    );
  });

  const signers: [string, RequestSigner][] = [
    ["WebCrypto", webCryptoSigner],
    ["node:crypto", nodeSigner],
  ];
  describe.each(signers)("the %s signer", (_name, signer) => {
    it.each(published.vectors)("signs the published vector: $name", async (vector) => {
      const signingKey = await deriveSigningKey(published.secret);
      const fields = {
        keyId: published.keyId,
        timestamp: vector.timestamp,
        nonce: vector.nonce,
        path: vector.path,
      };
      const body = Buffer.from(vector.bodyHex, "hex");
      expect(await signer(signingKey, fields, body)).toBe(vector.signature);
      // One more byte of body changes the signature.
      const longer = Buffer.concat([body, Buffer.from([0])]);
      expect(await signer(signingKey, fields, longer)).not.toBe(vector.signature);
    });
  });

  it("serializes a request to the exact bytes of the gRPC vector, as the signing interceptor does", () => {
    const message = toBinary(
      SubmitRequestSchema,
      create(SubmitRequestSchema, { spec: { task: { case: "echo", value: { text: "hi" } } } }),
    );
    const grpc = published.vectors.find((v) => v.name.startsWith("gRPC"));
    expect(Buffer.from(message).toString("hex")).toBe(grpc?.bodyHex.slice(10));
  });
});
