import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import type { Task } from "../../gen/noizylab/agent/v1/task_pb.js";
import {
  type ListTasksRequest,
  SubmitBatchResultSchema,
  SubmitResponseSchema,
  type TaskService,
} from "../../gen/noizylab/agent/v1/task_service_pb.js";
import type { Engine } from "../engine/engine.js";
import { taskErrorOf } from "../engine/task-events.js";
import { kAudit, kCaller } from "../security/context.js";
import { cancellableTasksOf, readableTasksOf } from "../security/scopes.js";
import type { TaskQuery } from "../store/store.js";
import { checkRange, invalidField } from "../tasks/task-errors.js";

/** TaskServiceOptions are the limits the task service enforces on top of the engine's. */
export interface TaskServiceOptions {
  readonly engine: Engine;
  /** The most requests in one SubmitBatch. */
  readonly maxBatchSize: number;
  /** The largest ListTasks page. */
  readonly maxPageSize: number;
}

const defaultPageSize = 50;

function pageToken(lastId: string): string {
  return Buffer.from(lastId, "utf8").toString("base64url");
}

function queryOf(request: ListTasksRequest, maxPageSize: number): TaskQuery {
  checkRange("page_size", request.pageSize, 0, maxPageSize);
  let beforeId: string | undefined;
  if (request.pageToken !== "") {
    beforeId = Buffer.from(request.pageToken, "base64url").toString("utf8");
    if (!/^[0-9a-f-]{36}$/.test(beforeId)) {
      throw invalidField("page_token", "is not a token from a previous ListTasks response");
    }
  }
  return {
    states: request.states,
    types: request.types,
    createdAfter: request.createdAfter ? timestampMs(request.createdAfter) : undefined,
    createdBefore: request.createdBefore ? timestampMs(request.createdBefore) : undefined,
    beforeId,
    limit: request.pageSize || defaultPageSize,
  };
}

/** noteOwner names in the call's audit event the key of a task that is not the caller's own. */
function noteOwner(context: HandlerContext, task: Task): void {
  const caller = context.values.get(kCaller);
  if (caller && task.keyId !== caller.keyId) {
    context.values.get(kAudit).taskOwnerKeyId = task.keyId;
  }
}

/**
 * createTaskService translates TaskService RPCs into engine calls. A key reads, watches and
 * cancels its own tasks; another key's task is not found, unless the caller holds
 * tasks:read:all (to read and watch it) or admin (to cancel it too).
 */
export function createTaskService(options: TaskServiceOptions): ServiceImpl<typeof TaskService> {
  const { engine } = options;
  return {
    async submit(request, context) {
      const keyId = context.values.get(kCaller)?.keyId;
      return create(SubmitResponseSchema, await engine.submit({ ...request, keyId }));
    },
    async *run(request, context) {
      const keyId = context.values.get(kCaller)?.keyId;
      for await (const event of engine.run({ ...request, keyId }, context.signal)) {
        yield { event };
      }
    },
    async submitBatch(request, context) {
      if (request.requests.length > options.maxBatchSize) {
        throw invalidField(
          "requests",
          `at most ${options.maxBatchSize} requests per batch, got ${request.requests.length}`,
        );
      }
      const keyId = context.values.get(kCaller)?.keyId;
      const outcomes = await engine.submitBatch(request.requests.map((r) => ({ ...r, keyId })));
      return {
        results: outcomes.map((outcome) =>
          create(SubmitBatchResultSchema, {
            outcome:
              outcome instanceof ConnectError
                ? { case: "error", value: taskErrorOf(outcome) }
                : { case: "submitted", value: create(SubmitResponseSchema, outcome) },
          }),
        ),
      };
    },
    async getTask(request, context) {
      const owner = readableTasksOf(context.values.get(kCaller));
      const task = await engine.getTask(request.taskId, owner);
      noteOwner(context, task);
      return { task };
    },
    async listTasks(request, context) {
      const query = {
        ...queryOf(request, options.maxPageSize),
        keyId: readableTasksOf(context.values.get(kCaller)),
      };
      // One extra row tells whether another page follows.
      const tasks = await engine.listTasks({ ...query, limit: query.limit + 1 });
      const page = tasks.slice(0, query.limit);
      const last = page.at(-1);
      return {
        tasks: page,
        nextPageToken: tasks.length > query.limit && last ? pageToken(last.id) : "",
      };
    },
    async *watchTask(request, context) {
      const caller = context.values.get(kCaller);
      const owner = readableTasksOf(caller);
      // A server stream's request is not seen by the audit interceptor: the task is named here.
      context.values.get(kAudit).taskId = request.taskId;
      // A caller who may watch every key's task says in its audit event whose it watched.
      if (caller && owner === undefined) noteOwner(context, await engine.getTask(request.taskId));
      for await (const event of engine.watchTask(
        request.taskId,
        request.afterSequence,
        context.signal,
        owner,
      )) {
        yield { event };
      }
    },
    async cancelTask(request, context) {
      const owner = cancellableTasksOf(context.values.get(kCaller));
      const task = await engine.cancelTask(request.taskId, request.reason, owner);
      noteOwner(context, task);
      return { task };
    },
  };
}
