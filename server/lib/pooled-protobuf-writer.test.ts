import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  toBinary,
} from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  DoubleValueSchema,
  FileDescriptorProtoSchema,
  FloatValueSchema,
  Int64ValueSchema,
  UInt64ValueSchema,
  ValueSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { PingResponseSchema } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import {
  file_noizylab_agent_v1_task,
  TaskEventSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";
import { usePooledProtobufWriter } from "./pooled-protobuf-writer.js";

const payload = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 7) % 256);

// Messages that take every path of the writer: varints of every width, fixed-width numbers
// (through its DataView), strings and bytes short and long (a length prefix widened, the
// buffer grown past the pool's slab size), nested and repeated messages, maps.
const messages: [DescMessage, unknown][] = [
  [PingResponseSchema, create(PingResponseSchema)],
  [PingResponseSchema, create(PingResponseSchema, { payload: payload(100) })],
  [PingResponseSchema, create(PingResponseSchema, { payload: payload(65_536) })],
  [FileDescriptorProtoSchema, file_noizylab_agent_v1_task.proto],
  [
    TaskEventSchema,
    fromJson(TaskEventSchema, {
      taskId: "0192f3a0-0000-7000-8000-000000000001",
      sequence: "18446744073709551615",
    }),
  ],
  [ValueSchema, fromJson(ValueSchema, { pi: Math.PI, list: [-1e300, "é".repeat(200), false] })],
  [FloatValueSchema, create(FloatValueSchema, { value: -0.5 })],
  [DoubleValueSchema, create(DoubleValueSchema, { value: Number.MIN_VALUE })],
  [Int64ValueSchema, create(Int64ValueSchema, { value: -1n })],
  [UInt64ValueSchema, create(UInt64ValueSchema, { value: 2n ** 64n - 1n })],
];
const encodeAll = () => messages.map(([schema, message]) => toBinary(schema, message as never));

// The test file's process starts with the stock writer: these are its bytes.
const stockBytes = encodeAll();

describe("usePooledProtobufWriter", () => {
  it("is in use, and every message encodes to the stock writer's bytes", () => {
    expect(usePooledProtobufWriter()).toBe(true);
    expect(usePooledProtobufWriter()).toBe(true);
    const pooledBytes = encodeAll();
    pooledBytes.forEach((bytes, i) => {
      expect(Buffer.compare(bytes, stockBytes[i] as Uint8Array)).toBe(0);
      const [schema, message] = messages[i] as [DescMessage, never];
      expect(equals(schema, fromBinary(schema, bytes), message)).toBe(true);
    });
  });

  it("gives each encoding bytes of its own, as a plain Uint8Array", () => {
    usePooledProtobufWriter();
    const first = toBinary(PingResponseSchema, create(PingResponseSchema, { payload: payload(9) }));
    const second = toBinary(
      PingResponseSchema,
      create(PingResponseSchema, { payload: payload(9) }),
    );
    expect(Object.getPrototypeOf(first)).toBe(Uint8Array.prototype);
    first.fill(0xff);
    expect(fromBinary(PingResponseSchema, second).payload).toEqual(payload(9));

    // A writer used again after finish() starts afresh, and leaves what it returned alone
    // (here on a buffer of the same size as its first one, which it did not keep).
    const writer = new BinaryWriter();
    const write = (value: number) =>
      writer
        .tag(1, WireType.LengthDelimited)
        .bytes(payload(20_000))
        .tag(2, WireType.Bit64)
        .double(value)
        .finish();
    const readDouble = (bytes: Uint8Array) => {
      const reader = new BinaryReader(bytes);
      reader.tag();
      reader.bytes();
      reader.tag();
      return reader.double();
    };
    const one = write(1.5);
    const two = write(-2.5);
    expect(readDouble(one)).toBe(1.5);
    expect(readDouble(two)).toBe(-2.5);

    // One writer starting while another holds the buffer passed on gets a buffer of its own.
    const outer = new BinaryWriter().tag(1, WireType.LengthDelimited);
    const inner = toBinary(
      PingResponseSchema,
      create(PingResponseSchema, { payload: payload(50) }),
    );
    const framed = outer.bytes(inner).finish();
    expect(fromBinary(PingResponseSchema, framed).payload).toEqual(inner);
    expect(fromBinary(PingResponseSchema, inner).payload).toEqual(payload(50));
  });
});
