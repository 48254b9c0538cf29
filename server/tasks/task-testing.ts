import type { TaskContext } from "./task-handler.js";

/** ProgressReport is one call a handler made to TaskContext.progress. */
export interface ProgressReport {
  readonly percent: number;
  readonly note: string;
}

/** testContext is a TaskContext for calling a handler directly, recording its progress. */
export function testContext(options: { signal?: AbortSignal; maxOutputBytes?: number } = {}) {
  const reports: ProgressReport[] = [];
  const context: TaskContext = {
    signal: options.signal ?? new AbortController().signal,
    maxOutputBytes: options.maxOutputBytes ?? 4 * 1024 * 1024,
    progress: (percent, note = "") => reports.push({ percent, note }),
  };
  return { context, reports };
}
