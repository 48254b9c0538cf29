import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  TaskEventSchema,
  TaskState,
  TaskStateChangeSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { firstEvent, isFirstEvent, progressEvent, stateChangeEvent } from "./task-events.js";

describe("first events", () => {
  const createdAt = timestampFromMs(1_700_000_000_123);

  it("knows the first event it makes, and nothing else", () => {
    expect(isFirstEvent(firstEvent("t", createdAt), "t", createdAt)).toBe(true);
    const said = stateChangeEvent("t", TaskState.QUEUED, 0, "imported");
    said.sequence = 1n;
    said.time = createdAt;
    const later = firstEvent("t", timestampFromMs(1_700_000_000_124));
    const numbered = firstEvent("t", createdAt);
    numbered.sequence = 2n;
    const retried = stateChangeEvent("t", TaskState.QUEUED, 1);
    retried.sequence = 1n;
    retried.time = createdAt;
    const progress = progressEvent("t", 0, "");
    progress.sequence = 1n;
    progress.time = createdAt;
    for (const event of [said, later, numbered, retried, progress]) {
      expect(isFirstEvent(event, "t", createdAt)).toBe(false);
    }
    expect(isFirstEvent(firstEvent("t", createdAt), "u", createdAt)).toBe(false);
  });

  it("reads every field a first event has: one added to them must be read too", () => {
    expect(TaskEventSchema.fields.map((f) => f.localName)).toEqual([
      "taskId",
      "sequence",
      "time",
      "state",
      "stateChange",
      "progress",
      "result",
      "error",
    ]);
    expect(TaskStateChangeSchema.fields.map((f) => f.localName)).toEqual(["attempt", "reason"]);
  });
});
