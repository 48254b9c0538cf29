import type { Code } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";

// What the general path does to the bodies it passes between connect's handlers and Node.

/** replay yields bytes already read, as a body. */
export async function* replay(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** counted passes a body on, adding each chunk's size. */
export async function* counted(
  body: AsyncIterable<Uint8Array>,
  add: (n: number) => void,
): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    add(chunk.byteLength);
    yield chunk;
  }
}

// When no interceptor saw the call end (a request that could not be parsed, or was too
// large), its code is read off the response: gRPC and gRPC-Web carry it in a status header or
// trailer, a Connect unary error in its small JSON body, which is read here and passed on.
export async function codeOfResponse(
  response: UniversalServerResponse,
): Promise<{ code: string; response: UniversalServerResponse }> {
  const grpcStatus = response.trailer?.get("grpc-status") ?? response.header?.get("grpc-status");
  if (grpcStatus)
    return { code: grpcStatus === "0" ? "ok" : codeToString(Number(grpcStatus) as Code), response };
  if (response.status === 200 || response.body === undefined) {
    return {
      code: response.status === 200 ? "ok" : codeToString(codeFromHttpStatus(response.status)),
      response,
    };
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  let code = codeToString(codeFromHttpStatus(response.status));
  try {
    code = (JSON.parse(body.toString("utf8")) as { code?: string }).code ?? code;
  } catch {
    // Not a Connect error body: the HTTP status is all there is.
  }
  return {
    code,
    response: {
      ...response,
      body: replay(body),
    },
  };
}
