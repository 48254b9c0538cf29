import type { SecureClientSessionOptions } from "node:http2";
import type { Client, Interceptor, Transport } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { KeyService } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { withKey } from "../shared/key-interceptors.js";
import type { ResultMessage, SpecField } from "../shared/task-types.js";
import { createBalancedTransport } from "./balancer.js";
import { nodeSigner } from "./node-signer.js";
import { type RunOptions, runTask, type TaskInit } from "./run-task.js";

/** Protocol is a wire protocol the agent serves. */
export type Protocol = "connect" | "grpc" | "grpc-web";

/** AgentClientOptions say how to reach an agent. */
export interface AgentClientOptions {
  /**
   * The agent's address, for example "http://127.0.0.1:8080"; or the addresses of several
   * instances sharing one database, which calls are then spread over (see docs/scaling.md).
   */
  readonly baseUrl: string | readonly string[];
  /** The wire protocol; Connect by default. */
  readonly protocol?: Protocol;
  /** HTTP/2 by default; gRPC needs it, Connect and gRPC-Web also speak HTTP/1.1. */
  readonly httpVersion?: "1.1" | "2";
  /** Connect and gRPC-Web only: JSON instead of binary Protobuf on the wire. */
  readonly useJson?: boolean;
  /** The API key, sent as "authorization: Bearer <key>" with every call. */
  readonly apiKey?: string | undefined;
  /** Also sign every request with the key (see docs/security.md); needed for keys that require it. */
  readonly sign?: boolean;
  /** Interceptors applied to every call, for example to add headers. */
  readonly interceptors?: Interceptor[];
  /** TLS settings for https endpoints, for example the `ca` that signed the server's certificate. */
  readonly nodeOptions?: Pick<
    SecureClientSessionOptions,
    "ca" | "cert" | "key" | "rejectUnauthorized"
  >;
}

/** AgentClient holds typed clients for the agent's services and the run helper. */
export interface AgentClient {
  /** The TaskService: submit, run, batch, get, list, watch, cancel. */
  readonly tasks: Client<typeof TaskService>;
  /** The AgentService: capabilities. */
  readonly agent: Client<typeof AgentService>;
  /** The standard gRPC health service. */
  readonly health: Client<typeof Health>;
  /** The KeyService: API keys, for admins. */
  readonly keys: Client<typeof KeyService>;
  /** gRPC server reflection: the schemas of plugin tasks (see fetchTypes). */
  readonly reflection: Client<typeof ServerReflection>;
  /**
   * run submits a task, reports its progress and resolves with its typed result, or rejects
   * with a ConnectError carrying the task's error code. If the stream breaks after the task
   * was queued, it resumes with WatchTask where it left off.
   */
  run<K extends SpecField>(task: TaskInit<K>, options?: RunOptions): Promise<ResultMessage<K>>;
}

/** createAgentTransport makes the transport to one address, for the options' protocol and HTTP version. */
export function createAgentTransport(options: AgentClientOptions & { baseUrl: string }): Transport {
  const httpVersion = options.httpVersion ?? "2";
  const common = {
    baseUrl: options.baseUrl,
    interceptors: withKey(
      {
        apiKey: options.apiKey,
        sign: options.sign,
        protocol: options.protocol ?? "connect",
        json: options.useJson === true && options.protocol !== "grpc",
        signer: nodeSigner,
      },
      options.interceptors,
    ),
    nodeOptions: options.nodeOptions ?? {},
  };
  switch (options.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport(common);
    case "grpc-web":
      return createGrpcWebTransport({ ...common, httpVersion, useBinaryFormat: !options.useJson });
    default:
      return createConnectTransport({ ...common, httpVersion, useBinaryFormat: !options.useJson });
  }
}

/** createAgentClient makes a client of an agent, or of several instances balanced in turn. */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  const transports = (
    typeof options.baseUrl === "string" ? [options.baseUrl] : options.baseUrl
  ).map((baseUrl) => createAgentTransport({ ...options, baseUrl }));
  const transport =
    transports.length === 1 ? (transports[0] as Transport) : createBalancedTransport(transports);
  const tasks = createClient(TaskService, transport);
  return {
    tasks,
    agent: createClient(AgentService, transport),
    health: createClient(Health, transport),
    keys: createClient(KeyService, transport),
    reflection: createClient(ServerReflection, transport),
    run: (task, runOptions) => runTask(tasks, task, runOptions),
  };
}
