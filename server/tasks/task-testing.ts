import { createDurationStats, type DurationStats } from "../engine/routing.js";
import { createAddressPolicy } from "../net/address-policy.js";
import { guardedRequest } from "../net/guarded-request.js";
import type { TaskContext } from "./task-handler.js";

/** ProgressReport is one call a handler made to TaskContext.progress. */
export interface ProgressReport {
  readonly percent: number;
  readonly note: string;
}

/**
 * testContext is a TaskContext for calling a handler directly, recording its progress. Its
 * requests go through the real guarded sender, allowed to reach the addresses in `allow`.
 */
export function testContext(
  options: {
    signal?: AbortSignal;
    maxOutputBytes?: number;
    allow?: readonly string[];
    durations?: DurationStats;
  } = {},
) {
  const reports: ProgressReport[] = [];
  const policy = createAddressPolicy(options.allow ?? [], "test allow-list");
  const context: TaskContext = {
    taskId: "test-task",
    keyId: "",
    signal: options.signal ?? new AbortController().signal,
    maxOutputBytes: options.maxOutputBytes ?? 4 * 1024 * 1024,
    progress: (percent, note = "") => reports.push({ percent, note }),
    request: (request) => guardedRequest(request, policy),
    durations: options.durations ?? createDurationStats(),
  };
  return { context, reports };
}
