import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { taskTypeOf } from "../../clients/shared/task-types.js";
import { type AuditDraft, kAudit } from "../security/context.js";

interface TaskLike {
  taskId?: unknown;
  spec?: { task?: { case?: unknown } };
  task?: { id?: unknown; type?: unknown };
}

/** noteTask copies the task a message names or carries into the audit draft. */
export function noteTask(draft: AuditDraft, message: unknown): void {
  const m = message as TaskLike;
  if (typeof m.taskId === "string" && m.taskId !== "") draft.taskId = m.taskId;
  if (typeof m.spec?.task?.case === "string") draft.taskType = taskTypeOf(m.spec.task.case);
  if (typeof m.task?.id === "string") draft.taskId = m.task.id;
  if (typeof m.task?.type === "string") draft.taskType = m.task.type;
}

async function* watchStream<T>(messages: AsyncIterable<T>, draft: AuditDraft): AsyncIterable<T> {
  try {
    for await (const message of messages) {
      noteTask(draft, message);
      yield message;
    }
    draft.code = "ok";
  } catch (error) {
    draft.code = codeToString(ConnectError.from(error).code);
    throw error;
  }
}

/**
 * createAuditInterceptor notes in each request's audit draft (see kAudit) the task it
 * concerns and how it ended; the RPC handler writes the event when the response closes.
 */
export function createAuditInterceptor(): Interceptor {
  return (next) => async (request) => {
    const draft = request.contextValues.get(kAudit);
    if (!request.stream) noteTask(draft, request.message);
    try {
      const response = await next(request);
      if (!response.stream) {
        noteTask(draft, response.message);
        draft.code = "ok";
        return response;
      }
      return { ...response, message: watchStream(response.message, draft) };
    } catch (error) {
      draft.code = codeToString(ConnectError.from(error, Code.Internal).code);
      throw error;
    }
  };
}
