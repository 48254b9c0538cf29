import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { TaskResult, TaskSpec } from "../../gen/noizylab/agent/v1/task_pb.js";

/** SpecField is the name of a TaskSpec oneof field, one per task type ("echo", "delay", …). */
export type SpecField = NonNullable<TaskSpec["task"]["case"]>;

/** SpecMessage is the input message of a task type, for example EchoTask for "echo". */
export type SpecMessage<K extends SpecField> = Extract<TaskSpec["task"], { case: K }>["value"];

/** SpecInit is what a caller may write as a task type's input: the message or a plain object. */
export type SpecInit<K extends SpecField> = MessageInitShape<GenMessage<SpecMessage<K>>>;

/** ResultMessage is the result message of a task type, for example EchoResult for "echo". */
export type ResultMessage<K extends SpecField> = Extract<
  TaskResult["result"],
  { case: K }
>["value"];

/** A field name with capitals or underscores is spelled differently as a task type. */
const needsMapping = /[A-Z_]/;

/**
 * taskTypeOf is the task type name of a TaskSpec field, given its TypeScript (camelCase) or
 * proto (snake_case) name: "textAnalysis" and "text_analysis" are "text-analysis".
 */
export function taskTypeOf(field: string): string {
  // Most names ("echo", "delay") are their own type: a test is ~10x cheaper than the replace.
  if (!needsMapping.test(field)) return field;
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replaceAll("_", "-");
}

/** specFieldOf is the proto (and JSON) TaskSpec field of a task type: "text-analysis" is "text_analysis". */
export function specFieldOf(type: string): string {
  return type.replaceAll("-", "_");
}

/** typeNameOf is the message type an Any's type URL names: the part after its last "/". */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}
