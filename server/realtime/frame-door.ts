import type { IncomingHttpHeaders } from "node:http";
import type { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { signatureHeaders } from "../../clients/shared/request-signing.js";
import type { AuthFrame } from "../../gen/noizylab/agent/v1/realtime_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import {
  type AuditedCall,
  finishAudit,
  noteCaller,
  noteRefusal,
  startAudit,
} from "../audit/request-audit.js";
import type { AuditDraft } from "../security/context.js";
import { type Admission, asRefusal, type Door } from "../security/door.js";
import type { Cancel } from "../security/open-calls.js";

/** The path the gateway answers WebSocket upgrades on, and its sessions are admitted as. */
export const gatewayPath = "/ws";

/** RequestFrameKind is a kind of client frame that asks for something. */
export type RequestFrameKind = "ping" | "task" | "subscribe" | "unsubscribe";

/** The RPC each kind of request frame stands for: it is admitted and audited as that call. */
export const frameProcedures: Readonly<Record<RequestFrameKind, string>> = {
  ping: "/noizylab.agent.v1.AgentService/Ping",
  task: "/noizylab.agent.v1.TaskService/Submit",
  subscribe: "/noizylab.agent.v1.AgentService/WatchEvents",
  unsubscribe: "/noizylab.agent.v1.AgentService/WatchEvents",
};

/** FrameDoorOptions are a session's way in: the door, the audit trail, and its upgrade. */
export interface FrameDoorOptions {
  readonly door: Door;
  readonly audit: AuditLog;
  /** The upgrade request's headers: they carry the key, or an auth frame adds it. */
  readonly headers: IncomingHttpHeaders;
  /** The address of the connection's far end. */
  readonly socketAddress: string;
}

/** SessionAdmission is a session let in: its caller and peer, and the release of its hold. */
export interface SessionAdmission {
  readonly admission: Admission;
  /** release stops counting the session against its key's cap; call it when it closes. */
  readonly release: () => void;
}

/** FrameCall is a frame let in: its admission, and its audit event to finish. */
export class FrameCall {
  constructor(
    readonly admission: Admission,
    private readonly call: AuditedCall,
    private readonly audit: AuditLog,
  ) {}

  /** The frame's audit event, to note the task it concerns. */
  get draft(): AuditDraft {
    return this.call.draft;
  }

  /** finish records the frame's audit event: its outcome and the bytes sent in answer. */
  finish(error: ConnectError | undefined, bytesOut: number): void {
    this.call.draft.code = error ? codeToString(error.code) : "ok";
    this.call.meter.out = bytesOut;
    finishAudit(this.audit, this.call);
  }
}

/** headersOfAuthFrame are the headers an auth frame's key and signature stand for. */
function headersOfAuthFrame(headers: IncomingHttpHeaders, frame: AuthFrame): IncomingHttpHeaders {
  const authed: IncomingHttpHeaders = { ...headers, authorization: `Bearer ${frame.apiKey}` };
  const signature = frame.signature;
  if (signature === undefined) return authed;
  return {
    ...authed,
    [signatureHeaders.keyId]: signature.keyId,
    [signatureHeaders.timestamp]: String(signature.timestamp),
    [signatureHeaders.nonce]: signature.nonce,
    [signatureHeaders.signature]: signature.signature,
  };
}

/**
 * FrameDoor is the door as one WebSocket session meets it: the session is admitted as the
 * gateway's path (key, signature where due, its key's cap on sessions), and then each of its
 * request frames as the call it stands for (key, scope, rate limit), each with its audit
 * event, as RPCs are.
 */
export class FrameDoor {
  private headers: IncomingHttpHeaders;

  constructor(private readonly options: FrameDoorOptions) {
    this.headers = options.headers;
  }

  /**
   * admitSession admits the session, with the key of its upgrade, or of its auth frame (and
   * the frame's signature); `cancel` ends it when the key is revoked or expires. It rejects
   * with the Refusal. Either way it leaves the session's audit event.
   */
  async admitSession(cancel: Cancel, auth?: AuthFrame): Promise<SessionAdmission> {
    const { door } = this.options;
    const headers = auth ? headersOfAuthFrame(this.options.headers, auth) : this.options.headers;
    const call = this.start(gatewayPath, 0);
    try {
      const admission = await door.admit({
        path: gatewayPath,
        headers,
        socketAddress: this.options.socketAddress,
      });
      noteCaller(call.draft, admission.caller?.keyId ?? "", admission.peer);
      if (door.signatureDue(admission, headers)) {
        await door.verify(admission, { path: gatewayPath, headers, body: new Uint8Array() });
      }
      const release = door.hold("session", admission, cancel);
      call.draft.code = "ok";
      this.headers = headers;
      return { admission, release };
    } catch (error) {
      const refusal = asRefusal(error);
      noteRefusal(call.draft, refusal);
      throw refusal;
    } finally {
      finishAudit(this.options.audit, call);
    }
  }

  /**
   * admit admits a request frame of an admitted session as the call it stands for, or
   * rejects with the Refusal, audited.
   */
  async admit(kind: RequestFrameKind, bytesIn: number): Promise<FrameCall> {
    const call = this.start(frameProcedures[kind], bytesIn);
    try {
      const admission = await this.options.door.admit({
        path: frameProcedures[kind],
        headers: this.headers,
        socketAddress: this.options.socketAddress,
      });
      noteCaller(call.draft, admission.caller?.keyId ?? "", admission.peer);
      return new FrameCall(admission, call, this.options.audit);
    } catch (error) {
      const refusal = asRefusal(error);
      noteRefusal(call.draft, refusal);
      finishAudit(this.options.audit, call);
      throw refusal;
    }
  }

  private start(procedure: string, bytesIn: number): AuditedCall {
    const { headers, socketAddress } = this.options;
    const call = startAudit(procedure, socketAddress, headers["user-agent"], "websocket");
    call.meter.in = bytesIn;
    return call;
  }
}
