import { Code, ConnectError } from "@connectrpc/connect";
import {
  SmartRoutingResultSchema,
  SmartRoutingTaskSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { routeDescription, routeSpec } from "../engine/routing.js";
import { invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

// A description is a sentence or two: the scorer's patterns run over it on the event loop.
const maxDescriptionLength = 10_000;

/**
 * smartRoutingTask scores work (a spec, or a description) with the engine's own scorer, the
 * one that picks the priority of submits that give none (see server/engine/routing.ts).
 */
export const smartRoutingTask = defineTask({
  field: "smartRouting",
  description:
    "Scores work's complexity (task type, payload size, recent durations here) and recommends a task type, a priority and a duration, with the reasoning.",
  requestSchema: SmartRoutingTaskSchema,
  resultSchema: SmartRoutingResultSchema,
  cost: "constant",
  validate(input, path) {
    const work = input.work;
    if (work.case === undefined) {
      throw invalidField(`${path}`, "set spec or description");
    }
    if (work.case === "description" && work.value.trim() === "") {
      throw invalidField(`${path}.description`, "must not be empty");
    }
    if (work.case === "description" && work.value.length > maxDescriptionLength) {
      throw invalidField(
        `${path}.description`,
        `must be at most ${maxDescriptionLength} characters, got ${work.value.length}`,
      );
    }
    if (work.case === "spec" && work.value.task.case === undefined) {
      throw invalidField(`${path}.spec`, "a task is required");
    }
  },
  async run(input, context) {
    const durations = context.durations;
    if (durations === undefined) {
      throw new ConnectError("this server keeps no task durations", Code.FailedPrecondition);
    }
    const work = input.work;
    return work.case === "spec"
      ? routeSpec(work.value, durations)
      : routeDescription(work.value ?? "", durations);
  },
});
