import { create, fromBinary, fromJsonString } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChannelEventSchema } from "../../gen/noizylab/agent/v1/channel_pb.js";
import { ServerFrameSchema } from "../../gen/noizylab/agent/v1/realtime_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { encodeEventFrame, encodeFrame } from "./frame-codec.js";

const event = create(ChannelEventSchema, {
  taskType: "delay",
  payload: {
    case: "taskEvent",
    value: {
      taskId: "01a2b3c4-0000-7000-8000-000000000000",
      sequence: 3n,
      time: timestampNow(),
      state: TaskState.RUNNING,
      kind: { case: "progress", value: { percent: 50, note: 'half way "quoted" ✓' } },
    },
  },
});

describe("encodeEventFrame", () => {
  it.each(["json", "binary"] as const)(
    "splices the subscription id into a %s frame that decodes like the full one",
    (format) => {
      const spliced = encodeEventFrame(event, "sub-7", format);
      const full = encodeFrame(
        create(ServerFrameSchema, {
          kind: { case: "event", value: { ...event, subscriptionId: "sub-7" } },
        }),
        format,
      );
      const decode = (data: string | Uint8Array) =>
        typeof data === "string"
          ? fromJsonString(ServerFrameSchema, data)
          : fromBinary(ServerFrameSchema, data);
      expect(decode(spliced)).toEqual(decode(full));
      expect(decode(spliced).kind.value).toMatchObject({
        subscriptionId: "sub-7",
        taskType: "delay",
      });
    },
  );

  it("handles an event with no fields set", () => {
    const empty = create(ChannelEventSchema);
    expect(
      fromJsonString(ServerFrameSchema, encodeEventFrame(empty, "s", "json") as string).kind,
    ).toMatchObject({
      case: "event",
      value: { subscriptionId: "s" },
    });
  });
});
