import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import { withKey } from "../shared/key-interceptors.js";

/** WebClientOptions say how a browser page reaches an agent. */
export interface WebClientOptions {
  /** The agent's address; the server must allow the page's origin (corsOrigins). */
  readonly baseUrl: string;
  /** "connect" (the default) or "grpc-web": what browsers can speak. */
  readonly protocol?: "connect" | "grpc-web";
  /** JSON instead of binary Protobuf on the wire. */
  readonly useJson?: boolean;
  /** The API key, sent as "authorization: Bearer <key>". */
  readonly apiKey?: string;
  /** Also sign every request with the key (see docs/security.md). */
  readonly sign?: boolean;
}

/** WebClient holds typed clients of the agent's services for a browser page. */
export interface WebClient {
  readonly tasks: Client<typeof TaskService>;
  readonly agent: Client<typeof AgentService>;
}

/** createWebClient makes browser clients over fetch, with the same signing as the Node client. */
export function createWebClient(options: WebClientOptions): WebClient {
  const protocol = options.protocol ?? "connect";
  const interceptors = withKey({
    apiKey: options.apiKey,
    sign: options.sign,
    protocol,
    json: options.useJson === true,
  });
  const settings = { baseUrl: options.baseUrl, useBinaryFormat: !options.useJson, interceptors };
  const transport =
    options.protocol === "grpc-web"
      ? createGrpcWebTransport(settings)
      : createConnectTransport(settings);
  return {
    tasks: createClient(TaskService, transport),
    agent: createClient(AgentService, transport),
  };
}
