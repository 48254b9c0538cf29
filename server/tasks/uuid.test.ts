import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { UuidTaskSchema, UuidVersion } from "../../gen/noizylab/agent/v1/uuid_pb.js";
import { testContext } from "./task-testing.js";
import { uuidTask } from "./uuid.js";

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-([47])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuid task", () => {
  it("generates distinct version 4 UUIDs by default", async () => {
    const result = await uuidTask.run(
      create(UuidTaskSchema, { count: 1000 }),
      testContext().context,
    );
    expect(result.uuids).toHaveLength(1000);
    expect(new Set(result.uuids).size).toBe(1000);
    for (const uuid of result.uuids) expect(shape.exec(uuid)?.[1]).toBe("4");
  });

  it("generates strictly increasing version 7 UUIDs carrying the current time", async () => {
    const before = Date.now();
    const result = await uuidTask.run(
      create(UuidTaskSchema, { version: UuidVersion.V7, count: 1000 }),
      testContext().context,
    );
    for (const uuid of result.uuids) expect(shape.exec(uuid)?.[1]).toBe("7");
    expect([...result.uuids].sort()).toEqual(result.uuids);
    expect(new Set(result.uuids).size).toBe(1000);
    const ms = Number.parseInt(result.uuids[0]?.replace("-", "").slice(0, 12) ?? "", 16);
    expect(ms).toBeGreaterThanOrEqual(before);
  });

  it("refuses more than 1,000", () => {
    expect(() => uuidTask.validate(create(UuidTaskSchema, { count: 1001 }), "spec.uuid")).toThrow(
      "spec.uuid.count: must be between 0 and 1000, got 1001",
    );
  });
});
