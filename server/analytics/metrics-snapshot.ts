import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type MetricsSnapshot,
  MetricsSnapshotSchema,
  type RealtimeStats,
} from "../../gen/noizylab/agent/v1/channel_pb.js";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { Engine } from "../engine/engine.js";
import type { Store } from "../store/store.js";
import { isTerminal } from "../store/task-projection.js";

/** MetricsSourceOptions are where a snapshot's figures come from. */
export interface MetricsSourceOptions {
  readonly engine: Engine;
  readonly store: Store;
  /** The gateway's session and subscription counts, read at each snapshot. */
  readonly realtime: () => Omit<RealtimeStats, "$typeName">;
}

/**
 * createMetricsSource counts tasks submitted and finished from the engine's events since
 * start, and returns a function taking snapshots of the server's state.
 */
export function createMetricsSource(options: MetricsSourceOptions): () => Promise<MetricsSnapshot> {
  let submitted = 0n;
  let finished = 0n;
  options.engine.onEvent((event) => {
    if (event.sequence === 1n) submitted++;
    if (isTerminal(event.state)) finished++;
  });
  return async () =>
    create(MetricsSnapshotSchema, {
      time: timestampNow(),
      runningTasks: options.engine.runningCount,
      queuedTasks: BigInt(await options.store.countTasks(TaskState.QUEUED)),
      submittedTasks: submitted,
      finishedTasks: finished,
      realtime: options.realtime(),
    });
}
