import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  UuidResultSchema,
  UuidTaskSchema,
  UuidVersion,
  UuidVersionSchema,
} from "../../gen/noizylab/agent/v1/uuid_pb.js";
import { uuidV7 } from "../lib/uuid-v7.js";
import { checkEnum, checkRange } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

/** uuidTask generates up to 1,000 version 4 or version 7 UUIDs. */
export const uuidTask = defineTask({
  field: "uuid",
  description: "Generates up to 1,000 UUIDs, version 4 (random) or 7 (time-ordered).",
  requestSchema: UuidTaskSchema,
  resultSchema: UuidResultSchema,
  cost: "constant",
  pure: true,
  validate(input, path) {
    checkEnum(`${path}.version`, input.version, UuidVersionSchema);
    checkRange(`${path}.count`, input.count, 0, 1_000);
  },
  async run(input) {
    const version = input.version || UuidVersion.V4;
    const generate = version === UuidVersion.V7 ? uuidV7 : randomUUID;
    const uuids = Array.from({ length: Math.max(1, input.count) }, () => generate());
    return create(UuidResultSchema, { uuids, version });
  },
});
