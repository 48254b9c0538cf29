import { create } from "@bufbuild/protobuf";
import { EchoResultSchema, EchoTaskSchema } from "../../gen/noizylab/agent/v1/echo_pb.js";
import { defineTask } from "./task-handler.js";

/** echoTask returns its text unchanged. */
export const echoTask = defineTask({
  field: "echo",
  description: "Returns its text unchanged.",
  requestSchema: EchoTaskSchema,
  resultSchema: EchoResultSchema,
  cost: "linear",
  pure: true,
  validate() {},
  async run(input) {
    return create(EchoResultSchema, { text: input.text });
  },
});
