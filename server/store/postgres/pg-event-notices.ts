import { fromBinary } from "@bufbuild/protobuf";
import { type TaskEvent, TaskEventSchema } from "../../../gen/noizylab/agent/v1/task_pb.js";
import type { TaskTag } from "../store.js";

/** The NOTIFY channel committed task events travel on. */
export const eventChannel = "cloudagent_task_events";
/** NOTIFY payloads must stay under 8,000 bytes; a larger event is sent by reference. */
const maxInlineEvent = 6_000;

/** A notification's body: the task's type and key, and the event or where to read it. */
interface NoticeBody {
  readonly t: string;
  readonly k: string;
  readonly e?: string;
  readonly id?: string;
  readonly s?: number;
}

/** EventNotice is another instance's event as its notification carries it. */
export type EventNotice =
  | { readonly task: TaskTag; readonly event: TaskEvent }
  | { readonly task: TaskTag; readonly taskId: string; readonly sequence: bigint };

/**
 * eventNotice is the notification of a stored event (its encoding given): the committing
 * instance's id, so that it skips its own without parsing them, then the task's type and key
 * and the event, or where to read an event too large to send.
 */
export function eventNotice(
  instanceId: string,
  event: TaskEvent,
  bytes: Uint8Array,
  task: TaskTag,
): string {
  const inline = Math.ceil(bytes.byteLength / 3) * 4 <= maxInlineEvent;
  const tag = { t: task.type, k: task.keyId };
  const body: NoticeBody = inline
    ? { ...tag, e: Buffer.from(bytes).toString("base64") }
    : { ...tag, id: event.taskId, s: Number(event.sequence) };
  return `${instanceId} ${JSON.stringify(body)}`;
}

/** readEventNotice reads a notification; undefined when the instance reading it sent it. */
export function readEventNotice(payload: string, instanceId: string): EventNotice | undefined {
  if (payload.startsWith(`${instanceId} `)) return undefined;
  const body = JSON.parse(payload.slice(payload.indexOf(" ") + 1)) as NoticeBody;
  const task = { type: body.t, keyId: body.k ?? "" };
  if (body.e !== undefined) {
    return { task, event: fromBinary(TaskEventSchema, Buffer.from(body.e, "base64")) };
  }
  return { task, taskId: body.id ?? "", sequence: BigInt(body.s ?? 0) };
}
