import {
  DataValidatorResultSchema,
  DataValidatorTaskSchema,
  ValueTypeSchema,
  type Violation,
} from "../../gen/noizylab/plugins/v1/data_validator_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { checkEnum, invalidField } from "../../server/tasks/task-errors.js";
import { check, compileRule, maxViolations } from "./rules.js";

function recordsOf(data: string, path: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (error) {
    throw invalidField(`${path}.data`, `is not JSON: ${(error as Error).message}`);
  }
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** The data-validator task. */
export const dataValidatorTask = definePluginTask({
  type: "data-validator",
  description:
    "Checks JSON records against field rules (required, type, range, length, one-of, pattern in linear time on RE2) with custom messages.",
  request: DataValidatorTaskSchema,
  result: DataValidatorResultSchema,
  cost: "heavy",
  validate(input, path) {
    const count = input.rules.length;
    if (count < 1 || count > 200) {
      throw invalidField(`${path}.rules`, `give 1 to 200 rules, got ${count}`);
    }
    input.rules.forEach((rule, i) => {
      checkEnum(`${path}.rules[${i}].type`, rule.type, ValueTypeSchema);
      compileRule(rule, `${path}.rules[${i}]`);
    });
    recordsOf(input.data, path);
  },
  run(input) {
    const rules = input.rules.map((rule, i) => compileRule(rule, `rules[${i}]`));
    const records = recordsOf(input.data, "spec.plugin.input");
    const violations: Omit<Violation, "$typeName">[] = [];
    let invalidRecords = 0;
    let truncated = false;
    records.forEach((record, index) => {
      let valid = true;
      for (const rule of rules) {
        const violation = check(rule, record, index);
        if (violation === undefined) continue;
        valid = false;
        if (violations.length < maxViolations) violations.push(violation);
        else truncated = true;
      }
      if (!valid) invalidRecords++;
    });
    return {
      valid: invalidRecords === 0,
      records: records.length,
      invalidRecords,
      violations,
      truncated,
    };
  },
});

/** The data-validator plugin: records checked against field rules. */
export default definePlugin({
  name: "data-validator",
  version: "1.0.0",
  tasks: [dataValidatorTask],
});
