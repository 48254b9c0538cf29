import {
  fromBinary,
  fromJsonString,
  type Registry,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type ChannelEvent, ChannelEventSchema } from "../../gen/noizylab/agent/v1/channel_pb.js";
import {
  type ClientFrame,
  ClientFrameSchema,
  type ServerFrame,
  ServerFrameSchema,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";

/** FrameFormat is how a session's frames travel: JSON text (default) or binary Protobuf. */
export type FrameFormat = "json" | "binary";

/** The WebSocket subprotocol that selects binary Protobuf frames. */
export const binarySubprotocol = "cloudagent.v1.proto";
/** The WebSocket subprotocol that selects JSON text frames (also the default with none). */
export const jsonSubprotocol = "cloudagent.v1.json";

/**
 * decodeClientFrame parses a client frame; it throws on a malformed one. JSON frames may hold
 * Any payloads of the types in `types` (plugin task inputs).
 */
export function decodeClientFrame(data: Buffer, isBinary: boolean, types?: Registry): ClientFrame {
  return isBinary
    ? fromBinary(ClientFrameSchema, data)
    : fromJsonString(ClientFrameSchema, data.toString("utf8"), { registry: types });
}

// ClientFrame.request_id is field 1, in either format's spelling.
const requestIdField = 1;

/**
 * requestIdOf salvages the request_id of a frame that does not decode, so that its error
 * answers it: the field read alone, in JSON (either spelling) or binary; "" when even it
 * cannot be read.
 */
export function requestIdOf(data: Buffer, isBinary: boolean): string {
  try {
    if (!isBinary) {
      const parsed: unknown = JSON.parse(data.toString("utf8"));
      const fields = (typeof parsed === "object" && parsed) as Record<string, unknown>;
      const id = fields && (fields.requestId ?? fields.request_id);
      return typeof id === "string" ? id : "";
    }
    const reader = new BinaryReader(data);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === requestIdField && wireType === WireType.LengthDelimited) return reader.string();
      reader.skip(wireType);
    }
  } catch {
    // Not even the id can be read: the error answers no request.
  }
  return "";
}

/** encodeFrame serializes a server frame in the session's format. */
export function encodeFrame(
  frame: ServerFrame,
  format: FrameFormat,
  types?: Registry,
): string | Uint8Array {
  return format === "binary"
    ? toBinary(ServerFrameSchema, frame)
    : toJsonString(ServerFrameSchema, frame, { registry: types });
}

// Each event is serialized once per format, however many subscribers it goes to; only the
// few bytes naming the subscription differ between their frames.
const bodies = new WeakMap<ChannelEvent, { json?: string; binary?: Uint8Array }>();

function bodyOf(event: ChannelEvent) {
  let body = bodies.get(event);
  if (body === undefined) {
    body = {};
    bodies.set(event, body);
  }
  return body;
}

// ServerFrame.event is field 10; ChannelEvent.subscription_id is field 1.
const eventField = 10;
const subscriptionIdField = 1;

/**
 * encodeEventFrame is encodeFrame of a ServerFrame whose event is the given one with its
 * subscription_id set, made by splicing the id into the event's cached encoding. Protobuf
 * merges fields in any order, and JSON objects take members in any order, so the result
 * decodes to the same frame.
 */
export function encodeEventFrame(
  event: ChannelEvent,
  subscriptionId: string,
  format: FrameFormat,
  types?: Registry,
): string | Uint8Array {
  const body = bodyOf(event);
  if (format === "binary") {
    body.binary ??= toBinary(ChannelEventSchema, event);
    return new BinaryWriter()
      .tag(eventField, WireType.LengthDelimited)
      .fork()
      .tag(subscriptionIdField, WireType.LengthDelimited)
      .string(subscriptionId)
      .raw(body.binary)
      .join()
      .finish();
  }
  body.json ??= toJsonString(ChannelEventSchema, event, { registry: types });
  const rest = body.json === "{}" ? "}" : `,${body.json.slice(1)}`;
  return `{"event":{"subscriptionId":${JSON.stringify(subscriptionId)}${rest}}`;
}
