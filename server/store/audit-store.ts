import type { AuditEvent } from "../../gen/noizylab/agent/v1/audit_pb.js";

/** AuditQuery filters and pages the audit trail; events come newest first. */
export interface AuditQuery {
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly keyId?: string | undefined;
  readonly refusedOnly: boolean;
  /** Only events stored before this cursor (see AuditPage.nextCursor). */
  readonly beforeCursor?: number | undefined;
  readonly limit: number;
}

/** AuditPage is one page of the audit trail. */
export interface AuditPage {
  readonly events: AuditEvent[];
  /** Pass as beforeCursor for the next page; undefined on the last page. */
  readonly nextCursor: number | undefined;
}

/** AuditStore keeps the audit trail. */
export interface AuditStore {
  /** insert appends events in one transaction. */
  insert(events: readonly AuditEvent[]): Promise<void>;
  /** list returns a page of events matching the query. */
  list(query: AuditQuery): Promise<AuditPage>;
  /** purge deletes events older than a time and returns how many. */
  purge(before: number): Promise<number>;
  /**
   * onRemoteInsert calls listener with the events other instances insert, a batch at a
   * time; returns the unsubscribe.
   */
  onRemoteInsert(listener: (events: AuditEvent[]) => void): () => void;
}
