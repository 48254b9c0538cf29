import { type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  type ServerReflectionRequest,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  type ServerReflectionRequest as ServerReflectionRequestV1alpha,
  ServerReflection as ServerReflectionV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** ReflectionOptions says what the reflection service describes. */
export interface ReflectionOptions {
  /** The services to list, by full name. */
  readonly serviceNames: readonly string[];
  /**
   * The files that declare them and the messages callers need; their imports are found
   * through them. Asked again for each reflection stream: plugins come and go.
   */
  readonly files: () => readonly DescFile[];
}

type Answer = Record<string, unknown>;
type Question =
  | ServerReflectionRequest["messageRequest"]
  | ServerReflectionRequestV1alpha["messageRequest"];

/** SchemaIndex finds the file of every symbol and file name the server knows. */
class SchemaIndex {
  private readonly byName = new Map<string, DescFile>();
  private readonly bySymbol = new Map<string, DescFile>();

  constructor(files: readonly DescFile[]) {
    for (const file of files) this.add(file);
  }

  private add(file: DescFile): void {
    if (this.byName.has(file.proto.name)) return;
    this.byName.set(file.proto.name, file);
    const types = [...file.messages, ...file.enums, ...file.extensions, ...file.services];
    while (types.length > 0) {
      const type = types.pop();
      if (type === undefined) break;
      this.bySymbol.set(type.typeName, file);
      if (type.kind === "message")
        types.push(...type.nestedMessages, ...type.nestedEnums, ...type.nestedExtensions);
      if (type.kind === "service") {
        for (const method of type.methods)
          this.bySymbol.set(`${type.typeName}.${method.name}`, file);
      }
    }
    for (const dependency of file.dependencies) this.add(dependency);
  }

  fileByName(name: string): DescFile | undefined {
    return this.byName.get(name);
  }

  fileBySymbol(symbol: string): DescFile | undefined {
    return this.bySymbol.get(symbol);
  }
}

/**
 * A stream's answers: each file is sent with the imports the caller has not yet been sent
 * on this stream, as the protocol allows.
 */
function createResponder(index: SchemaIndex, serviceNames: readonly string[]) {
  const sent = new Set<string>();

  function filesAnswer(file: DescFile): Answer {
    const files: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (sent.has(f.proto.name)) return;
      sent.add(f.proto.name);
      files.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return {
      case: "fileDescriptorResponse",
      value: {
        fileDescriptorProto: files.map((f) => toBinary(FileDescriptorProtoSchema, f.proto)),
      },
    };
  }

  function notFound(what: string): Answer {
    return {
      case: "errorResponse",
      value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
    };
  }

  return (question: Question): Answer => {
    switch (question.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = index.fileByName(question.value);
        return file ? filesAnswer(file) : notFound(`file ${question.value}`);
      }
      case "fileContainingSymbol": {
        const file = index.fileBySymbol(question.value);
        return file ? filesAnswer(file) : notFound(`symbol ${question.value}`);
      }
      case "fileContainingExtension":
        return notFound(
          `extension ${question.value.extensionNumber} of ${question.value.containingType}`,
        );
      case "allExtensionNumbersOfType":
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: question.value } };
      default:
        return {
          case: "errorResponse",
          value: { errorCode: Code.Unimplemented, errorMessage: "unknown reflection request" },
        };
    }
  };
}

/**
 * registerReflection serves gRPC server reflection, both grpc.reflection.v1 and v1alpha, so
 * grpcurl and `buf curl` work with no .proto files at hand.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions): void {
  // The two versions are the same protocol under two package names: the v1 types describe both.
  for (const service of [
    ServerReflectionV1,
    ServerReflectionV1alpha as unknown as typeof ServerReflectionV1,
  ]) {
    router.service(service, {
      async *serverReflectionInfo(requests) {
        const respond = createResponder(new SchemaIndex(options.files()), options.serviceNames);
        for await (const request of requests) {
          yield {
            validHost: request.host,
            originalRequest: request,
            messageResponse: respond(request.messageRequest) as never,
          };
        }
      },
    });
  }
}
