import {
  ArrayStrategySchema,
  JsonMergerResultSchema,
  JsonMergerTaskSchema,
} from "../../gen/noizylab/plugins/v1/json_merger_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { checkEnum, invalidField } from "../../server/tasks/task-errors.js";
import { type Json, mergeDocuments } from "./merge-json.js";

function parseDocuments(documents: readonly string[], path: string): Json[] {
  return documents.map((text, i) => {
    try {
      return JSON.parse(text) as Json;
    } catch (error) {
      throw invalidField(`${path}.documents[${i}]`, `is not JSON: ${(error as Error).message}`);
    }
  });
}

/** The json-merger task. */
export const jsonMergerTask = definePluginTask({
  type: "json-merger",
  description:
    "Deep-merges JSON documents left to right, with a chosen array strategy; __proto__, constructor and prototype keys are dropped and reported.",
  request: JsonMergerTaskSchema,
  result: JsonMergerResultSchema,
  validate(input, path) {
    const count = input.documents.length;
    if (count < 2 || count > 100) {
      throw invalidField(`${path}.documents`, `give 2 to 100 documents, got ${count}`);
    }
    checkEnum(`${path}.array_strategy`, input.arrayStrategy, ArrayStrategySchema);
    parseDocuments(input.documents, path);
  },
  run(input) {
    const { merged, droppedKeys, replaced } = mergeDocuments(
      parseDocuments(input.documents, "spec.plugin.input"),
      input.arrayStrategy,
    );
    return { merged: JSON.stringify(merged), droppedKeys, replaced };
  },
});

/** The json-merger plugin: deep merges that no key can turn into prototype pollution. */
export default definePlugin({
  name: "json-merger",
  version: "1.0.0",
  tasks: [jsonMergerTask],
});
