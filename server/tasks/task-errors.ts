import type { DescEnum } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { FieldViolationSchema } from "../../gen/noizylab/agent/v1/errors_pb.js";

/**
 * invalidField is the InvalidArgument error for a request field that broke a rule. The
 * message names the field and the rule; a FieldViolation detail carries both for programs.
 */
export function invalidField(field: string, description: string): ConnectError {
  return new ConnectError(`${field}: ${description}`, Code.InvalidArgument, undefined, [
    { desc: FieldViolationSchema, value: create(FieldViolationSchema, { field, description }) },
  ]);
}

/** checkRange throws invalidField unless min <= value <= max. */
export function checkRange(field: string, value: number, min: number, max: number): void {
  if (value < min || value > max) {
    throw invalidField(field, `must be between ${min} and ${max}, got ${value}`);
  }
}

/** checkEnum throws invalidField unless value is one of the enum's declared values. */
export function checkEnum(field: string, value: number, schema: DescEnum): void {
  if (!schema.values.some((v) => v.number === value)) {
    throw invalidField(field, `${value} is not a ${schema.typeName} value`);
  }
}

/** checkHttpUrl throws invalidField unless value is an http or https URL. */
export function checkHttpUrl(field: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidField(field, `${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidField(field, `must be http or https, got ${url.protocol}`);
  }
}
