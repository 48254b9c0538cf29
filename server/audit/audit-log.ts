import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type AuditEvent, AuditEventSchema } from "../../gen/noizylab/agent/v1/audit_pb.js";
import type { AuditStore } from "../store/audit-store.js";

/** AuditLogOptions configure the audit trail's writer and retention. */
export interface AuditLogOptions {
  readonly store: AuditStore;
  /** Events older than this many days are purged. */
  readonly retentionDays: number;
  /** How often queued events are written. */
  readonly flushIntervalMs: number;
  /** False records nothing (for benchmarks of the door without audit). */
  readonly enabled: boolean;
  readonly onError: (error: unknown) => void;
}

/** AuditLog records requests off the hot path: events queue in memory and are written in batches. */
export interface AuditLog {
  /** Whether events are recorded at all. */
  readonly enabled: boolean;
  /** record queues one event, and tells the listeners of onRecord. */
  record(event: MessageInitShape<typeof AuditEventSchema>): void;
  /** onRecord calls listener with every event recorded from now on; returns the unsubscribe. */
  onRecord(listener: (event: AuditEvent) => void): () => void;
  /** flush writes every queued event now. */
  flush(): Promise<void>;
  /** purge deletes events past the retention period; returns how many. */
  purge(): Promise<number>;
  /** close writes what is queued and stops the timers. */
  close(): Promise<void>;
}

const dayMs = 86_400_000;
// A burst this large is written at once instead of waiting for the timer.
const maxQueued = 1_000;

/** createAuditLog starts the writer and the daily purge. */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  let queue: AuditEvent[] = [];
  let writing = Promise.resolve();
  const listeners = new Set<(event: AuditEvent) => void>();

  function flush(): Promise<void> {
    if (queue.length === 0) return writing;
    const batch = queue;
    queue = [];
    writing = writing.then(() => options.store.insert(batch)).catch(options.onError);
    return writing;
  }

  const purge = () => options.store.purge(Date.now() - options.retentionDays * dayMs);
  const flushTimer = setInterval(flush, options.flushIntervalMs);
  flushTimer.unref();
  const purgeTimer = setInterval(() => purge().catch(options.onError), dayMs / 24);
  purgeTimer.unref();
  purge().catch(options.onError);

  return {
    enabled: options.enabled,
    record(init) {
      if (!options.enabled) return;
      const event = create(AuditEventSchema, init);
      queue.push(event);
      for (const listener of listeners) listener(event);
      if (queue.length >= maxQueued) flush();
    },
    onRecord(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush,
    purge,
    async close() {
      clearInterval(flushTimer);
      clearInterval(purgeTimer);
      await flush();
    },
  };
}
