import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { replay } from "./response-bodies.js";

const contentTypes =
  "application/json or application/proto (Connect), application/grpc (gRPC), or application/grpc-web (gRPC-Web)";

/** What a caller can use instead of a server stream it cannot call plainly, if anything. */
const plainAlternatives: Record<string, string> = {
  "noizylab.agent.v1.TaskService/Run": ", or TaskService/Submit",
};

/**
 * explainRejection gives the bodiless answers connect's handlers make to a call they cannot
 * read (HTTP 415 for a content type the method does not take, 405 for a GET of a method
 * with side effects) a Connect error body saying what to send instead; other answers are
 * returned as they are.
 */
export function explainRejection(
  response: UniversalServerResponse,
  method: DescMethod,
  httpMethod: string,
  contentType: string,
): UniversalServerResponse {
  if (response.body !== undefined) return response;
  const name = `${method.parent.typeName}/${method.name}`;
  let error: ConnectError;
  if (response.status === 415 && method.methodKind !== "unary") {
    error = new ConnectError(
      `${name} is a server stream, which "${contentType}" cannot carry: use application/connect+json with an enveloped message${plainAlternatives[name] ?? ""}`,
      Code.InvalidArgument,
    );
  } else if (response.status === 415) {
    error = new ConnectError(
      `content type "${contentType}" is not one ${name} takes: send ${contentTypes}`,
      Code.InvalidArgument,
    );
  } else if (response.status === 405) {
    error = new ConnectError(
      `${name} takes POST, not ${httpMethod} (GET serves only methods without side effects)`,
      Code.Unimplemented,
    );
  } else {
    return response;
  }
  const header = new Headers(response.header);
  header.set("content-type", "application/json");
  return { ...response, header, body: replay(errorToJsonBytes(error, undefined)) };
}
