import { describe, expect, it } from "vitest";
import { specFieldOf, taskTypeOf } from "./task-types.js";

describe("taskTypeOf", () => {
  it("names a type by its field, in either spelling", () => {
    expect(taskTypeOf("echo")).toBe("echo");
    expect(taskTypeOf("textAnalysis")).toBe("text-analysis");
    expect(taskTypeOf("text_analysis")).toBe("text-analysis");
    expect(taskTypeOf("apiHealthTest")).toBe("api-health-test");
    expect(taskTypeOf("json_validation")).toBe("json-validation");
  });

  it("is undone by specFieldOf", () => {
    for (const field of ["echo", "text_analysis", "api_health_test"]) {
      expect(specFieldOf(taskTypeOf(field))).toBe(field);
    }
  });
});
