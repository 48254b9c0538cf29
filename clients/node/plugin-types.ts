import { createFileRegistry, fromBinary, type Registry } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";

/**
 * fetchTypes asks the server's reflection service for the files declaring the given message
 * types (plugin task inputs and results, which GetCapabilities names), and returns a registry
 * of them and their imports: for packing inputs, and reading results, as JSON or messages.
 * Reflection is a bidirectional stream: Connect and gRPC over HTTP/2 carry it, gRPC-Web not.
 */
export async function fetchTypes(
  reflection: Client<typeof ServerReflection>,
  typeNames: readonly string[],
): Promise<Registry> {
  async function* questions() {
    for (const name of new Set(typeNames)) {
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: name } };
    }
  }
  const files = new Map<string, FileDescriptorProto>();
  for await (const answer of reflection.serverReflectionInfo(questions())) {
    const response = answer.messageResponse;
    if (response.case === "errorResponse") {
      throw new ConnectError(response.value.errorMessage, response.value.errorCode as Code);
    }
    if (response.case !== "fileDescriptorResponse") continue;
    for (const bytes of response.value.fileDescriptorProto) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  }
  if (files.size === 0) throw new ConnectError("the server described no types", Code.NotFound);
  // Each file with its imports, which the answers held too.
  const resolve = (name: string) => files.get(name);
  return createFileRegistry(
    ...[...files.values()].map((file) => createFileRegistry(file, resolve)),
  );
}
