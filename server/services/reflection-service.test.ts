import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ServerReflection as V1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as V1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { registerReflection } from "./reflection-service.js";

const transport = createRouterTransport((router) =>
  registerReflection(router, {
    serviceNames: [TaskService.typeName],
    files: () => [TaskService.file],
  }),
);

async function* ask(...requests: object[]) {
  for (const request of requests) yield request;
}

describe("server reflection", () => {
  for (const [version, service] of [
    ["v1", V1],
    ["v1alpha", V1alpha as unknown as typeof V1],
  ] as const) {
    it(`${version}: lists services and sends each file once with its imports`, async () => {
      const client = createClient(service, transport);
      const answers = [];
      for await (const answer of client.serverReflectionInfo(
        ask(
          { messageRequest: { case: "listServices", value: "" } },
          {
            messageRequest: {
              case: "fileContainingSymbol",
              value: "noizylab.agent.v1.TaskService.Submit",
            },
          },
          { messageRequest: { case: "fileByFilename", value: "noizylab/agent/v1/task.proto" } },
          { messageRequest: { case: "fileContainingSymbol", value: "noizylab.agent.v1.Nope" } },
        ),
      )) {
        answers.push(answer.messageResponse);
      }
      expect(answers[0]).toMatchObject({
        case: "listServicesResponse",
        value: { service: [{ name: TaskService.typeName }] },
      });
      const sent = answers[1]?.value as { fileDescriptorProto: Uint8Array[] } | undefined;
      const files = (sent?.fileDescriptorProto ?? []).map(
        (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
      );
      expect(files[0]).toBe("noizylab/agent/v1/task_service.proto");
      expect(files).toContain("noizylab/agent/v1/task.proto");
      expect(files).toContain("google/protobuf/timestamp.proto");
      // task.proto was already sent on this stream.
      expect(answers[2]).toMatchObject({
        case: "fileDescriptorResponse",
        value: { fileDescriptorProto: [] },
      });
      expect(answers[3]).toMatchObject({
        case: "errorResponse",
        value: { errorCode: Code.NotFound },
      });
    });
  }
});
