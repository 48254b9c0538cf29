import { create, fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DataValidatorTaskSchema,
  type FieldRuleSchema,
  ValueType,
} from "../../gen/noizylab/plugins/v1/data_validator_pb.js";
import { testContext } from "../../server/tasks/task-testing.js";
import { dataValidatorTask as task } from "./index.js";

function input(data: unknown, rules: MessageInitShape<typeof FieldRuleSchema>[]) {
  return create(DataValidatorTaskSchema, { data: JSON.stringify(data), rules });
}

async function validate(data: unknown, rules: MessageInitShape<typeof FieldRuleSchema>[]) {
  const request = input(data, rules);
  task.validate?.(request, "input");
  return task.run(request, testContext().context);
}

describe("data-validator", () => {
  it("checks every rule on every record, with custom messages and the values found", async () => {
    const records = [
      {
        name: "Ada",
        age: 36,
        email: "ada@example.org",
        role: "admin",
        address: { city: "London" },
      },
      { name: "", age: 210, email: "not an email", role: "guest", tags: [1, 2, 3] },
      { age: 12.5, email: "x@y.z", role: "admin", address: { city: 7 } },
    ];
    const result = await validate(records, [
      { field: "name", required: true, type: ValueType.STRING, minLength: 1 },
      { field: "age", type: ValueType.INTEGER, min: 0, max: 150 },
      { field: "email", pattern: "^[^@\\s]+@[^@\\s]+$", message: "email must be an address" },
      { field: "role", oneOf: [fromJson(ValueSchema, "admin"), fromJson(ValueSchema, "user")] },
      { field: "address.city", type: ValueType.STRING },
      { field: "tags", type: ValueType.ARRAY, maxLength: 2 },
    ]);
    expect(result).toMatchObject({ valid: false, records: 3, invalidRecords: 2, truncated: false });
    expect(
      result?.violations?.map((v) => [v.record, v.field, v.rule, v.message, v.actual]),
    ).toEqual([
      [1, "name", "min_length", "name must be at least 1 long, is 0", '""'],
      [1, "age", "max", "age must be at most 150, got 210", "210"],
      [1, "email", "pattern", "email must be an address", '"not an email"'],
      [1, "role", "one_of", 'role must be one of "admin", "user"', '"guest"'],
      [1, "tags", "max_length", "tags must be at most 2 long, is 3", "[1,2,3]"],
      [2, "name", "required", "name is required", ""],
      [2, "age", "type", "age must be integer, got number", "12.5"],
      [2, "address.city", "type", "address.city must be string, got integer", "7"],
    ]);
  });

  it("runs patterns that backtrack catastrophically elsewhere in linear time", async () => {
    // On a backtracking engine each of these takes longer than the universe has existed.
    const value = `${"a".repeat(9_990)}!`;
    const result = await validate(
      [{ s: value }, { s: "aaaa" }],
      [
        { field: "s", pattern: "^(a+)+$" },
        { field: "s", pattern: "^(a|a)*$" },
        { field: "s", pattern: "^(a|aa)+$" },
      ],
    );
    expect(result?.violations?.map((v) => [v.record, v.rule])).toEqual([
      [0, "pattern"],
      [0, "pattern"],
      [0, "pattern"],
    ]);
  });

  it("refuses a pattern RE2 cannot run in linear time, or too long, naming the rule", () => {
    expect(() => task.validate?.(input({}, [{ field: "s", pattern: "(a)\\1" }]), "input")).toThrow(
      /input\.rules\[0\]\.pattern: is not a regular expression RE2 runs \(no backreferences or lookaround\)/,
    );
    expect(() =>
      task.validate?.(input({}, [{ field: "s", pattern: "a".repeat(201) }]), "input"),
    ).toThrow("input.rules[0].pattern: is 201 characters; at most 200");
    expect(() => task.validate?.(input({}, [{ field: "s", pattern: "(" }]), "input")).toThrow(
      /input\.rules\[0\]\.pattern: is not a regular expression/,
    );
  });

  it("does not test very long strings against a pattern", async () => {
    const result = await validate({ s: "a".repeat(20_000) }, [{ field: "s", pattern: "^a+$" }]);
    expect(result?.violations?.[0]?.message).toBe(
      "s is over 10000 characters, too long to test against ^a+$",
    );
  });

  it("names data that is not JSON, and a rule set that is empty", () => {
    expect(() =>
      task.validate?.(
        create(DataValidatorTaskSchema, { data: "{", rules: [{ field: "a" }] }),
        "input",
      ),
    ).toThrow(/^\[invalid_argument\] input\.data: is not JSON/);
    expect(() => task.validate?.(create(DataValidatorTaskSchema, { data: "{}" }), "input")).toThrow(
      "input.rules: give 1 to 200 rules, got 0",
    );
  });
});
