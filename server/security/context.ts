import type { MessageInitShape } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";
import type { AuditEventSchema } from "../../gen/noizylab/agent/v1/audit_pb.js";
import type { Caller } from "./scopes.js";

/** kCaller is the caller a request was admitted as; undefined on an open path. */
export const kCaller = createContextKey<Caller | undefined>(undefined, { description: "caller" });

/** AuditDraft is the audit event of a request being served, filled in as it goes. */
export type AuditDraft = Exclude<MessageInitShape<typeof AuditEventSchema>, { $typeName: string }>;

/** kAudit is the audit event of the request being served. */
export const kAudit = createContextKey<AuditDraft>({}, { description: "audit event" });
