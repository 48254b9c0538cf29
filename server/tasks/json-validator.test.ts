import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  JsonSchemaDraft,
  JsonValidatorTaskSchema,
} from "../../gen/noizylab/agent/v1/json_validator_pb.js";
import { jsonValidatorTask } from "./json-validator.js";
import { testContext } from "./task-testing.js";

const run = (schema: unknown, document: unknown, extra: { draft?: JsonSchemaDraft } = {}) =>
  jsonValidatorTask.run(
    create(JsonValidatorTaskSchema, {
      schema: typeof schema === "string" ? schema : JSON.stringify(schema),
      document: typeof document === "string" ? document : JSON.stringify(document),
      ...extra,
    }),
    testContext().context,
  );

// An order schema of the kind an API validates its requests with.
const order = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["id", "customer", "items"],
  additionalProperties: false,
  properties: {
    id: { type: "string", pattern: "^ord_[0-9a-z]{8}$" },
    customer: {
      type: "object",
      required: ["email"],
      properties: {
        email: { type: "string", format: "email" },
        age: { type: "integer", minimum: 18 },
      },
    },
    items: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["sku", "quantity"],
        properties: {
          sku: { type: "string" },
          quantity: { type: "integer", exclusiveMinimum: 0 },
          color: { enum: ["red", "green", "blue"] },
        },
      },
    },
  },
};

describe("json-validator task", () => {
  it("accepts a document that meets the schema", async () => {
    const result = await run(order, {
      id: "ord_12345678",
      customer: { email: "ada@example.com", age: 36 },
      items: [{ sku: "A-1", quantity: 2, color: "red" }],
    });
    expect(result).toMatchObject({
      valid: true,
      schemaValid: true,
      errors: [],
      draft: JsonSchemaDraft.V2020_12,
    });
  });

  it("reports every nested error with its pointer, keyword, expected and actual values and a fix", async () => {
    const result = await run(order, {
      id: "order-1",
      customer: { email: "not an email", age: 12.5 },
      items: [{ sku: "A-1", quantity: 0, color: "purple" }, { quantity: 1 }],
      note: "rush",
    });
    expect(result.valid).toBe(false);
    const byPath = Object.fromEntries(result.errors.map((e) => [`${e.path} ${e.keyword}`, e]));
    expect(byPath["/id pattern"]).toMatchObject({
      expected: '"^ord_[0-9a-z]{8}$"',
      actual: '"order-1"',
      schemaPath: "#/properties/id/pattern",
    });
    expect(byPath["/customer/email format"]?.suggestion).toBe("write a valid email");
    expect(byPath["/customer/age type"]).toMatchObject({ expected: '"integer"', actual: "12.5" });
    expect(byPath["/customer/age minimum"]?.suggestion).toBe("use a number >= 18");
    expect(byPath["/items/0/quantity exclusiveMinimum"]?.expected).toBe("> 0");
    expect(byPath["/items/0/color enum"]).toMatchObject({
      expected: '["red","green","blue"]',
      actual: '"purple"',
    });
    expect(byPath["/items/1/sku required"]?.suggestion).toBe('add the property "sku"');
    expect(byPath["/note additionalProperties"]?.suggestion).toMatch(/remove the property/);
    expect(result.errors).toHaveLength(8);
  });

  it("reads draft-07 schemas by their $schema, and by request", async () => {
    const draft07 = {
      $schema: "http://json-schema.org/draft-07/schema#",
      definitions: { port: { type: "integer", maximum: 65535 } },
      properties: { port: { $ref: "#/definitions/port" } },
    };
    const result = await run(draft07, { port: 70000 });
    expect(result.draft).toBe(JsonSchemaDraft.V7);
    expect(result.errors[0]).toMatchObject({ path: "/port", keyword: "maximum", actual: "70000" });
    const asked = await run({ items: [{ type: "string" }] }, [1], { draft: JsonSchemaDraft.V7 });
    expect(asked.draft).toBe(JsonSchemaDraft.V7);
    // Draft-07's array form of "items" checks the first item; 2020-12 has "prefixItems".
    expect(asked.errors[0]).toMatchObject({ path: "/0", keyword: "type" });
  });

  it("reports an invalid schema as such, apart from an invalid document", async () => {
    const badSchema = await run({ type: "strnig", minimum: "ten" }, {});
    expect(badSchema).toMatchObject({ valid: false, schemaValid: false, errors: [] });
    expect(badSchema.schemaErrors.map((e) => e.path)).toEqual(
      expect.arrayContaining(["/type", "/minimum"]),
    );
    const unparsable = await run("{ type: object }", {});
    expect(unparsable.schemaErrors[0]).toMatchObject({ keyword: "json" });
    expect(unparsable.schemaErrors[0]?.message).toMatch(/^the schema is not JSON/);
    const badRef = await run({ $ref: "#/$defs/missing" }, {});
    expect(badRef.schemaErrors[0]?.message).toMatch(/can't resolve reference/);
    const badDocument = await run(order, "{ id: 1 ");
    expect(badDocument).toMatchObject({ valid: false, schemaValid: true });
    expect(badDocument.errors[0]?.message).toMatch(/^the document is not JSON/);
  });

  it("runs a schema's patterns in linear time, and names those RE2 cannot run", async () => {
    // Each would backtrack for longer than the universe has existed on JavaScript's engine.
    const victim = `${"a".repeat(50_000)}!`;
    const schema = {
      type: "object",
      properties: {
        nested: { type: "string", pattern: "^(a+)+$" },
        alternated: { type: "string", pattern: "^(a|a)*$" },
      },
      patternProperties: { "^(x+x+)+y$": { type: "string" } },
    };
    const key = `${"x".repeat(5_000)}!`;
    const result = await run(schema, { nested: victim, alternated: victim, [key]: 1 });
    expect(result.errors.map((e) => [e.path, e.keyword])).toEqual([
      ["/nested", "pattern"],
      ["/alternated", "pattern"],
    ]);
    const backreference = await run({ type: "string", pattern: "(a)\\1" }, "aa");
    expect(backreference.schemaValid).toBe(false);
    expect(backreference.schemaErrors[0]?.message).toMatch(/no backreferences or lookaround/);
  });

  it("caps the errors it reports, and checks its input", async () => {
    const result = await jsonValidatorTask.run(
      create(JsonValidatorTaskSchema, {
        schema: JSON.stringify({ items: { type: "string" } }),
        document: JSON.stringify(Array.from({ length: 50 }, (_, i) => i)),
        maxErrors: 5,
      }),
      testContext().context,
    );
    expect(result.errors).toHaveLength(5);
    expect(result.truncated).toBe(true);
    expect(() =>
      jsonValidatorTask.validate(create(JsonValidatorTaskSchema, {}), "spec.json_validator"),
    ).toThrow("spec.json_validator.schema: is required");
  });
});
