import { Code, ConnectError } from "@connectrpc/connect";
import type { TaskEvent } from "../../gen/noizylab/agent/v1/task_pb.js";
import { AsyncQueue } from "../lib/async-queue.js";
import type { Store, TaskWithEvents } from "../store/store.js";
import { isTerminal } from "../store/task-projection.js";
import type { EventBus } from "./event-bus.js";

/** FirstRead is how a watch reads its task and the events stored so far, once subscribed. */
export type FirstRead = () => Promise<TaskWithEvents | undefined>;

/**
 * watchTask yields a task's events with a sequence above afterSequence: first those already
 * stored, then live ones, until the terminal event or until the signal aborts. It subscribes
 * before it reads the store, and fills any hole in the live stream from the store, so the
 * watcher sees every event exactly once and in order. A stream with no event for
 * idleTimeoutMs ends with DeadlineExceeded, naming where to resume. `read` is that first
 * read; a caller that knows the task from before it was committed may give its own.
 */
export async function* watchTask(
  store: Store,
  bus: EventBus,
  taskId: string,
  afterSequence: bigint,
  signal: AbortSignal,
  idleTimeoutMs: number,
  read: FirstRead = () => store.getTaskWithEvents(taskId, afterSequence),
): AsyncGenerator<TaskEvent> {
  const inbox = new AsyncQueue<TaskEvent>();
  const unsubscribe = bus.subscribe(taskId, (event) => inbox.push(event));
  try {
    const found = await read();
    if (found === undefined) throw new ConnectError(`task ${taskId} not found`, Code.NotFound);
    const { task, events } = found;
    let last = afterSequence;
    const emit = function* (events: readonly TaskEvent[]) {
      for (const event of events) {
        if (event.sequence <= last) continue;
        last = event.sequence;
        yield event;
      }
    };
    for (const event of emit(events)) {
      yield event;
      if (isTerminal(event.state)) return;
    }
    if (isTerminal(task.state) && last >= task.lastSequence) return;
    for (;;) {
      const event = await inbox.take(signal, idleTimeoutMs);
      if (event === undefined && !signal.aborted) {
        throw new ConnectError(
          `no event of task ${taskId} for ${idleTimeoutMs} ms; watch again after sequence ${last} to go on`,
          Code.DeadlineExceeded,
        );
      }
      if (event === undefined) return;
      const missed = event.sequence > last + 1n ? await store.listEvents(taskId, last) : [event];
      for (const next of emit(missed)) {
        yield next;
        if (isTerminal(next.state)) return;
      }
    }
  } finally {
    unsubscribe();
  }
}
