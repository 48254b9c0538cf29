import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { AuditDraft } from "../security/context.js";
import type { Refusal } from "../security/door.js";
import type { Peer } from "../security/network-rules.js";
import type { AuditLog } from "./audit-log.js";

/** Meter counts the body bytes of one request and its response. */
export interface Meter {
  in: number;
  out: number;
}

/**
 * AuditedCall is one request's audit event as it is filled in: its draft, its byte counts,
 * and when it started. Every way in (the HTTP paths, WebSocket upgrades and frames) records
 * its requests in this one shape.
 */
export interface AuditedCall {
  readonly draft: AuditDraft;
  readonly meter: Meter;
  /** The wall-clock time it started, in milliseconds since the epoch. */
  readonly startedAt: number;
  /** The same, on the monotonic clock its duration is measured on. */
  readonly started: number;
}

/** startAudit starts a request's audit event (see finishAudit). */
export function startAudit(
  procedure: string,
  peerIp: string,
  userAgent: unknown,
  protocol: string,
): AuditedCall {
  const draft: AuditDraft = { procedure, peerIp, userAgent: String(userAgent ?? ""), protocol };
  return { draft, meter: { in: 0, out: 0 }, startedAt: Date.now(), started: performance.now() };
}

/** noteCaller notes who called (their key id, if any) and from where. */
export function noteCaller(draft: AuditDraft, keyId: string, peer: Peer): void {
  draft.keyId = keyId;
  draft.peerIp = peer.ip;
  draft.country = peer.country;
}

/** noteRefusal notes a request the door turned away: who, from where, and why. */
export function noteRefusal(draft: AuditDraft, { keyId, peer, error }: Refusal): void {
  noteCaller(draft, keyId, peer);
  draft.code = codeToString(error.code);
  draft.reason = error.rawMessage;
}

/** finishAudit records a request's audit event, once its answer is over. */
export function finishAudit(
  log: AuditLog,
  { draft, meter, startedAt, started }: AuditedCall,
): void {
  if (!log.enabled) return;
  log.record({
    ...draft,
    time: timestampFromMs(startedAt),
    code: draft.code || "canceled",
    durationMs: Math.round(performance.now() - started),
    bytesIn: BigInt(meter.in),
    bytesOut: BigInt(meter.out),
  });
}
