// The requests the transport benchmark sends, in each protocol, and how to tell a right
// answer: a Ping (or PingStream) echoing a payload of a given size.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  PingRequestSchema,
  PingResponseSchema,
  PingStreamRequestSchema,
} from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import {
  SubmitRequestSchema,
  SubmitResponseSchema,
} from "../../gen/noizylab/agent/v1/task_service_pb.js";

/** Protocol is how a request is framed on the wire. */
export type Protocol = "grpc" | "grpc-web" | "connect" | "connect-json";

export const pingPath = "/noizylab.agent.v1.AgentService/Ping";
export const pingStreamPath = "/noizylab.agent.v1.AgentService/PingStream";

const contentTypes: Record<Protocol, string> = {
  grpc: "application/grpc",
  "grpc-web": "application/grpc-web+proto",
  connect: "application/proto",
  "connect-json": "application/json",
};

/** payloadOf is the benchmark's payload of a size: the same bytes for every server. */
export function payloadOf(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => 97 + (i % 26));
}

/** frame envelopes a message as gRPC and gRPC-Web do (connect's encodeEnvelope), as a Buffer. */
function frame(message: Uint8Array, flags = 0): Buffer {
  const framed = encodeEnvelope(flags, message);
  return Buffer.from(framed.buffer, framed.byteOffset, framed.byteLength);
}

/** RequestShape is a request as h2load and the checker send it. */
export interface RequestShape {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** pingRequest is a Ping of `payloadBytes` bytes in a protocol. */
export function pingRequest(protocol: Protocol, payloadBytes: number): RequestShape {
  const payload = payloadOf(payloadBytes);
  const message = toBinary(PingRequestSchema, create(PingRequestSchema, { payload }));
  const headers: Record<string, string> = { "content-type": contentTypes[protocol] };
  if (protocol === "grpc") headers.te = "trailers";
  if (protocol.startsWith("connect")) headers["connect-protocol-version"] = "1";
  const body =
    protocol === "connect"
      ? Buffer.from(message)
      : protocol === "connect-json"
        ? Buffer.from(JSON.stringify({ payload: Buffer.from(payload).toString("base64") }))
        : frame(message);
  return { path: pingPath, headers, body };
}

/** pingStreamRequest asks, over gRPC, for `count` echoes of a payload. */
export function pingStreamRequest(payloadBytes: number, count: number): RequestShape {
  const payload = payloadOf(payloadBytes);
  const message = toBinary(
    PingStreamRequestSchema,
    create(PingStreamRequestSchema, { payload, count }),
  );
  return {
    path: pingStreamPath,
    headers: { "content-type": "application/grpc", te: "trailers" },
    body: frame(message),
  };
}

/** Answer is a response as received. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly trailers: Record<string, string | string[] | undefined>;
}

/** frames splits a gRPC or gRPC-Web body into its frames. */
function frames(body: Buffer): { flags: number; data: Buffer }[] {
  const found: { flags: number; data: Buffer }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    found.push({ flags: body.readUInt8(at), data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return found;
}

/**
 * echoes returns the payloads an answer carries, or throws saying what is wrong with it:
 * the benchmark counts only right answers.
 */
export function echoes(protocol: Protocol, answer: Answer): Uint8Array[] {
  if (answer.status !== 200) throw new Error(`HTTP status ${answer.status}: ${answer.body}`);
  const decode = (bytes: Uint8Array) => fromBinary(PingResponseSchema, bytes).payload;
  switch (protocol) {
    case "connect":
      return [decode(answer.body)];
    case "connect-json":
      return [Buffer.from(JSON.parse(answer.body.toString()).payload, "base64")];
    case "grpc": {
      const status = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
      if (status !== "0")
        throw new Error(`grpc-status ${status}: ${answer.trailers["grpc-message"]}`);
      return frames(answer.body).map((frame) => decode(frame.data));
    }
    case "grpc-web": {
      const all = frames(answer.body);
      const trailer = all.find((frame) => frame.flags & 0x80)?.data.toString() ?? "";
      if (!/grpc-status: ?0\r\n/.test(trailer)) throw new Error(`trailer: ${trailer}`);
      return all.filter((frame) => !(frame.flags & 0x80)).map((frame) => decode(frame.data));
    }
  }
}

/**
 * cannedAnswers are the answers the raw HTTP/2 peer sends, by request content type: what a
 * Ping of the payload is answered with, made once.
 */
export function cannedAnswers(payloadBytes: number) {
  const payload = payloadOf(payloadBytes);
  const message = toBinary(
    PingResponseSchema,
    create(PingResponseSchema, { payload, serverTime: { seconds: 1_800_000_000n } }),
  );
  const ok = { "grpc-status": "0" };
  type Canned = { contentType: string; body: Buffer; trailers?: Record<string, string> };
  return new Map<string, Canned>([
    [
      "application/grpc",
      {
        contentType: "application/grpc+proto",
        body: frame(message),
        trailers: ok,
      },
    ],
    [
      "application/grpc-web+proto",
      {
        contentType: "application/grpc-web+proto",
        body: Buffer.concat([frame(message), frame(Buffer.from("grpc-status: 0\r\n"), 0x80)]),
      },
    ],
    ["application/proto", { contentType: "application/proto", body: Buffer.from(message) }],
    [
      "application/json",
      {
        contentType: "application/json",
        body: Buffer.from(
          JSON.stringify({
            payload: Buffer.from(payload).toString("base64"),
            serverTime: "2027-01-15T08:00:00Z",
          }),
        ),
      },
    ],
  ]);
}

/** submitRequest is a TaskService.Submit of an echo task, over gRPC. */
export function submitRequest(): RequestShape {
  const message = toBinary(
    SubmitRequestSchema,
    create(SubmitRequestSchema, { spec: { task: { case: "echo", value: { text: "bench" } } } }),
  );
  return {
    path: "/noizylab.agent.v1.TaskService/Submit",
    headers: { "content-type": "application/grpc", te: "trailers" },
    body: frame(message),
  };
}

/** submitted is the id of the task a Submit answer created, or throws saying what is wrong. */
export function submitted(answer: Answer): string {
  const status = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
  if (answer.status !== 200 || status !== "0") {
    throw new Error(
      `Submit answered ${answer.status}, grpc-status ${status}: ${answer.trailers["grpc-message"]}`,
    );
  }
  const [frame] = frames(answer.body);
  const id = frame && fromBinary(SubmitResponseSchema, frame.data).task?.id;
  if (!id) throw new Error("Submit answered without a task");
  return id;
}
