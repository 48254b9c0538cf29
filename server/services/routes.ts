import { file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AgentService } from "../../gen/noizylab/agent/v1/agent_service_pb.js";
import { file_noizylab_agent_v1_errors } from "../../gen/noizylab/agent/v1/errors_pb.js";
import { KeyService } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { file_noizylab_agent_v1_realtime } from "../../gen/noizylab/agent/v1/realtime_pb.js";
import { TaskService } from "../../gen/noizylab/agent/v1/task_service_pb.js";
import type { KeyManager } from "../security/key-manager.js";
import { type AgentServiceOptions, createAgentService } from "./agent-service.js";
import { createHealthService, type HealthStatus } from "./health-service.js";
import { createKeyService } from "./key-service.js";
import { registerReflection } from "./reflection-service.js";
import { createTaskService, type TaskServiceOptions } from "./task-service.js";

/** RoutesOptions is what the services need. */
export interface RoutesOptions extends TaskServiceOptions, AgentServiceOptions {
  readonly health: HealthStatus;
  readonly keys: KeyManager;
}

/** The services this server offers, as reflection lists them. */
export const serviceNames = [
  TaskService.typeName,
  AgentService.typeName,
  KeyService.typeName,
  Health.typeName,
  ServerReflection.typeName,
  ServerReflectionV1alpha.typeName,
];

/** routes registers every service of the agent on a router. */
export function routes(options: RoutesOptions): (router: ConnectRouter) => void {
  return (router) => {
    router.service(TaskService, createTaskService(options));
    router.service(AgentService, createAgentService(options));
    router.service(KeyService, createKeyService(options.keys));
    router.service(
      Health,
      createHealthService({
        health: options.health,
        serviceNames: [TaskService.typeName, AgentService.typeName],
      }),
    );
    registerReflection(router, {
      serviceNames,
      files: () => [
        TaskService.file,
        AgentService.file,
        KeyService.file,
        Health.file,
        ServerReflection.file,
        ServerReflectionV1alpha.file,
        // Not reachable from the services' files, but callers decode them: error details,
        // and the frames of the WebSocket gateway.
        file_noizylab_agent_v1_errors,
        file_noizylab_agent_v1_realtime,
        file_google_protobuf_timestamp,
        // Plugins' messages, which PluginTask.input and PluginResult.output hold.
        ...options.plugins.files(),
      ],
    });
  };
}
