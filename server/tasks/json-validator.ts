import { create } from "@bufbuild/protobuf";
import { Ajv, type ErrorObject } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import {
  JsonSchemaDraft,
  JsonSchemaDraftSchema,
  type JsonValidationError,
  JsonValidationErrorSchema,
  JsonValidatorResultSchema,
  JsonValidatorTaskSchema,
} from "../../gen/noizylab/agent/v1/json_validator_pb.js";
import { compileLinearRegex } from "../lib/linear-regex.js";
import { checkEnum, checkRange, invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

// ajv-formats is CommonJS: its plugin is the module itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const defaultMaxErrors = 100;
const maxErrorsLimit = 1_000;
const maxValueText = 200;

const draft07Uri = "http://json-schema.org/draft-07/schema";

/** draftOf picks the draft: the one asked for, else the schema's "$schema", else 2020-12. */
function draftOf(asked: JsonSchemaDraft, schema: unknown): JsonSchemaDraft {
  if (asked !== JsonSchemaDraft.UNSPECIFIED) return asked;
  const declared =
    typeof schema === "object" && schema !== null && "$schema" in schema
      ? String(schema.$schema)
      : "";
  return declared.startsWith(draft07Uri) ? JsonSchemaDraft.V7 : JsonSchemaDraft.V2020_12;
}

/**
 * The schema's patterns (pattern, patternProperties) run on RE2 (see compileLinearRegex): a
 * caller's schema cannot make a document's check backtrack. (`code` names the engine in
 * standalone code, which is never generated here.)
 */
const linearRegExp = Object.assign(
  (pattern: string, flags: string) => compileLinearRegex(pattern, flags),
  { code: "compileLinearRegex" },
);

function validatorFor(draft: JsonSchemaDraft): Ajv {
  // Every error, each with the failing value; unknown keywords are allowed (schemas carry
  // annotations of their own), and no remote $ref is ever fetched.
  const options = {
    allErrors: true,
    verbose: true,
    strict: false,
    validateFormats: true,
    code: { regExp: linearRegExp },
  };
  const ajv = draft === JsonSchemaDraft.V7 ? new Ajv(options) : new Ajv2020(options);
  return addFormats(ajv);
}

/** jsonText writes a value as JSON, cut to a readable length. */
function jsonText(value: unknown): string {
  if (value === undefined) return "";
  const text = JSON.stringify(value) ?? "";
  return text.length > maxValueText ? `${text.slice(0, maxValueText - 1)}…` : text;
}

/** pointerChild appends a property to a JSON Pointer, escaping "~" and "/". */
function pointerChild(pointer: string, property: string): string {
  return `${pointer}/${property.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

/** describe turns an ajv error into ours: where, what was expected, what was found, and a fix. */
function describe(error: ErrorObject): JsonValidationError {
  const params = error.params as Record<string, unknown>;
  let path = error.instancePath;
  let expected = "";
  let suggestion = "";
  switch (error.keyword) {
    case "type":
      expected = jsonText(params.type);
      suggestion = `make the value ${String(params.type).replaceAll(",", " or ")}`;
      break;
    case "required":
    case "dependentRequired":
    case "dependencies":
      path = pointerChild(path, String(params.missingProperty));
      expected = jsonText(params.missingProperty);
      suggestion = `add the property ${jsonText(params.missingProperty)}`;
      break;
    case "additionalProperties":
    case "unevaluatedProperties":
      path = pointerChild(
        path,
        String(params.additionalProperty ?? params.unevaluatedProperty ?? ""),
      );
      suggestion = "remove the property, or declare it in the schema";
      break;
    case "enum":
      expected = jsonText(params.allowedValues);
      suggestion = `use one of ${jsonText(params.allowedValues)}`;
      break;
    case "const":
      expected = jsonText(params.allowedValue);
      suggestion = `use ${jsonText(params.allowedValue)}`;
      break;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      expected = `${String(params.comparison)} ${String(params.limit)}`;
      suggestion = `use a number ${String(params.comparison)} ${String(params.limit)}`;
      break;
    case "minLength":
    case "maxLength":
    case "minItems":
    case "maxItems":
    case "minProperties":
    case "maxProperties":
      expected = String(params.limit);
      suggestion = `${error.keyword.startsWith("min") ? "use at least" : "use at most"} ${String(params.limit)} ${unitOf(error.keyword)}`;
      break;
    case "pattern":
      expected = jsonText(params.pattern);
      suggestion = `make the string match ${String(params.pattern)}`;
      break;
    case "format":
      expected = jsonText(params.format);
      suggestion = `write a valid ${String(params.format)}`;
      break;
    case "multipleOf":
      expected = String(params.multipleOf);
      suggestion = `use a multiple of ${String(params.multipleOf)}`;
      break;
    case "uniqueItems":
      suggestion = `remove the duplicate of item ${String(params.j)} at item ${String(params.i)}`;
      break;
    case "oneOf":
    case "anyOf":
      suggestion = "make the value match one of the alternatives (see the errors inside it)";
      break;
    default:
      suggestion = `meet the schema's "${error.keyword}" rule`;
  }
  const missing = error.keyword === "required" || error.keyword === "dependentRequired";
  return create(JsonValidationErrorSchema, {
    path,
    keyword: error.keyword,
    schemaPath: error.schemaPath,
    message: error.message ?? "",
    expected,
    actual: missing ? "" : jsonText(error.data),
    suggestion,
  });
}

function unitOf(keyword: string): string {
  if (keyword.endsWith("Length")) return "characters";
  if (keyword.endsWith("Items")) return "items";
  return "properties";
}

/** parse reads JSON text, or says where it is not JSON. */
function parse(text: string, what: string): { value: unknown } | { error: JsonValidationError } {
  try {
    return { value: JSON.parse(text) };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return {
      error: create(JsonValidationErrorSchema, {
        keyword: "json",
        message: `the ${what} is not JSON: ${reason}`,
        suggestion: `send the ${what} as JSON text`,
      }),
    };
  }
}

/**
 * jsonValidatorTask checks a JSON document against a JSON Schema with Ajv. It runs on the
 * worker pool: a schema is compiled to code, and a hostile one (deep nesting, huge
 * combinations) may take long, which the task's deadline then stops without the server
 * waiting. Its patterns run on RE2, in time linear in the string checked.
 */
export const jsonValidatorTask = defineTask({
  field: "jsonValidator",
  description:
    "Checks a JSON document against a JSON Schema (draft 2020-12 or draft-07): every error with its path, keyword, expected and actual values, and a fix.",
  requestSchema: JsonValidatorTaskSchema,
  resultSchema: JsonValidatorResultSchema,
  cost: "heavy",
  validate(input, path) {
    if (input.schema.trim() === "") throw invalidField(`${path}.schema`, "is required");
    checkEnum(`${path}.draft`, input.draft, JsonSchemaDraftSchema);
    if (input.maxErrors !== 0) checkRange(`${path}.max_errors`, input.maxErrors, 1, maxErrorsLimit);
  },
  async run(input) {
    const maxErrors = input.maxErrors || defaultMaxErrors;
    const schema = parse(input.schema, "schema");
    const draft = draftOf(input.draft, "value" in schema ? schema.value : undefined);
    const result = create(JsonValidatorResultSchema, { draft });
    if ("error" in schema) {
      result.schemaErrors = [schema.error];
      return result;
    }
    const ajv = validatorFor(draft);
    if (!ajv.validateSchema(schema.value as object)) {
      result.schemaErrors = (ajv.errors ?? []).slice(0, maxErrors).map(describe);
      return result;
    }
    let validate: ReturnType<Ajv["compile"]>;
    try {
      validate = ajv.compile(schema.value as object);
    } catch (cause) {
      // A schema that meets the meta-schema can still be unusable: an unresolvable $ref,
      // a pattern that is not a regular expression.
      result.schemaErrors = [
        create(JsonValidationErrorSchema, {
          keyword: "schema",
          message: cause instanceof Error ? cause.message : String(cause),
          suggestion: "fix the schema so that it compiles",
        }),
      ];
      return result;
    }
    result.schemaValid = true;
    const document = parse(input.document, "document");
    if ("error" in document) {
      result.errors = [document.error];
      return result;
    }
    result.valid = validate(document.value);
    const errors = validate.errors ?? [];
    result.errors = errors.slice(0, maxErrors).map(describe);
    result.truncated = errors.length > maxErrors;
    return result;
  },
});
