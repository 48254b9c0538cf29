import { isDeepStrictEqual } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { RE2JS } from "re2js";
import {
  type FieldRule,
  ValueType,
  type Violation,
} from "../../gen/noizylab/plugins/v1/data_validator_pb.js";
import { invalidField } from "../../server/tasks/task-errors.js";

/** The longest pattern a rule may have. */
export const maxPatternLength = 200;
/** Strings longer than this are not tested against a pattern: they break the rule. */
export const maxTestedLength = 10_000;
/** The most violations a result lists. */
export const maxViolations = 1_000;

/** CompiledRule is a rule with its pattern compiled and its allowed values as plain JSON. */
export interface CompiledRule {
  readonly rule: FieldRule;
  readonly path: readonly string[];
  readonly pattern: RE2JS | undefined;
  readonly oneOf: readonly unknown[];
}

/**
 * compileRule checks a rule and compiles its pattern, for RE2's automata (re2js): whatever the
 * pattern, a value is tested in time linear in its length, so no pattern backtracks
 * catastrophically. What RE2 cannot run that way (backreferences, lookaround) is refused, as
 * is a pattern over maxPatternLength characters.
 */
export function compileRule(rule: FieldRule, path: string): CompiledRule {
  if (rule.field.trim() === "") throw invalidField(`${path}.field`, "is required");
  let pattern: RE2JS | undefined;
  if (rule.pattern !== "") {
    if (rule.pattern.length > maxPatternLength) {
      throw invalidField(
        `${path}.pattern`,
        `is ${rule.pattern.length} characters; at most ${maxPatternLength}`,
      );
    }
    try {
      pattern = RE2JS.compile(RE2JS.translateRegExp(rule.pattern));
    } catch (error) {
      throw invalidField(
        `${path}.pattern`,
        `is not a regular expression RE2 runs (no backreferences or lookaround): ${(error as Error).message}`,
      );
    }
  }
  if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
    throw invalidField(`${path}.min`, `${rule.min} is above max ${rule.max}`);
  }
  return {
    rule,
    path: rule.field.split("."),
    pattern,
    oneOf: rule.oneOf.map((value) => toJson(ValueSchema, value)),
  };
}

const typeNames: Record<ValueType, string> = {
  [ValueType.UNSPECIFIED]: "any",
  [ValueType.STRING]: "string",
  [ValueType.NUMBER]: "number",
  [ValueType.INTEGER]: "integer",
  [ValueType.BOOLEAN]: "boolean",
  [ValueType.OBJECT]: "object",
  [ValueType.ARRAY]: "array",
};

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  if (typeof value === "number" && Number.isInteger(value)) return "integer";
  return typeof value;
}

function fits(value: unknown, type: ValueType): boolean {
  const actual = typeOf(value);
  if (type === ValueType.UNSPECIFIED) return true;
  if (type === ValueType.NUMBER) return actual === "number" || actual === "integer";
  return actual === typeNames[type];
}

/** fieldAt reads a dotted path from a record; own properties only. */
function fieldAt(record: unknown, path: readonly string[]): unknown {
  let value = record;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
function lengthOf(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (typeof value !== "string") return undefined;
  if (value.length > maxTestedLength) return value.length;
  let count = 0;
  for (const _ of graphemes.segment(value)) count++;
  return count;
}

type Broken = Pick<Violation, "rule" | "message">;

/** breach is the first part of the rule a present value breaks, if any. */
function breach({ rule, pattern, oneOf }: CompiledRule, value: unknown): Broken | undefined {
  if (!fits(value, rule.type)) {
    return { rule: "type", message: `must be ${typeNames[rule.type]}, got ${typeOf(value)}` };
  }
  if (typeof value === "number") {
    if (rule.min !== undefined && value < rule.min)
      return { rule: "min", message: `must be at least ${rule.min}, got ${value}` };
    if (rule.max !== undefined && value > rule.max)
      return { rule: "max", message: `must be at most ${rule.max}, got ${value}` };
  }
  const length = lengthOf(value);
  if (length !== undefined) {
    if (rule.minLength !== undefined && length < rule.minLength) {
      return {
        rule: "min_length",
        message: `must be at least ${rule.minLength} long, is ${length}`,
      };
    }
    if (rule.maxLength !== undefined && length > rule.maxLength) {
      return {
        rule: "max_length",
        message: `must be at most ${rule.maxLength} long, is ${length}`,
      };
    }
  }
  if (oneOf.length > 0 && !oneOf.some((allowed) => isDeepStrictEqual(allowed, value))) {
    return {
      rule: "one_of",
      message: `must be one of ${oneOf.map((v) => JSON.stringify(v)).join(", ")}`,
    };
  }
  if (pattern && typeof value === "string") {
    if (value.length > maxTestedLength) {
      return {
        rule: "pattern",
        message: `is over ${maxTestedLength} characters, too long to test against ${rule.pattern}`,
      };
    }
    if (!pattern.test(value)) return { rule: "pattern", message: `must match ${rule.pattern}` };
  }
  return undefined;
}

/** check is the violation of a rule by a record, if any. */
export function check(
  compiled: CompiledRule,
  record: unknown,
  index: number,
): Omit<Violation, "$typeName"> | undefined {
  const value = fieldAt(record, compiled.path);
  const present = value !== undefined && value !== null;
  const broken: Broken | undefined = present
    ? breach(compiled, value)
    : compiled.rule.required
      ? { rule: "required", message: "is required" }
      : undefined;
  if (broken === undefined) return undefined;
  return {
    record: index,
    field: compiled.rule.field,
    rule: broken.rule,
    message: compiled.rule.message || `${compiled.rule.field} ${broken.message}`,
    actual: value === undefined ? "" : JSON.stringify(value),
  };
}
