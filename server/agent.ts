import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { taskTypeOf } from "../clients/shared/task-types.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { createMetricsSource } from "./analytics/metrics-snapshot.js";
import { createAuditLog } from "./audit/audit-log.js";
import { type AgentConfig, shareOf } from "./config.js";
import { createEngine, type Engine } from "./engine/engine.js";
import { usePooledProtobufWriter } from "./lib/pooled-protobuf-writer.js";
import { connectionCapOf, openFileLimit } from "./listener/connection-caps.js";
import { createListener } from "./listener/listener.js";
import { Pacer, workPerTurn } from "./listener/pacer.js";
import { createAddressPolicy } from "./net/address-policy.js";
import { guardedRequest } from "./net/guarded-request.js";
import { bundledPluginDir, createPluginHost } from "./plugins/plugin-host.js";
import { createChannelHub } from "./realtime/channel-hub.js";
import { createGateway } from "./realtime/gateway.js";
import { createDoor } from "./security/door.js";
import { doorOptionsOf, listOf } from "./security/door-config.js";
import { createKeyManager } from "./security/key-manager.js";
import { createHealthStatus } from "./services/health-service.js";
import { routes } from "./services/routes.js";
import { createRpcHandler } from "./services/rpc-handler.js";
import { openStore } from "./store/open-store.js";
import type { Store } from "./store/store.js";
import { builtinTasks, createTaskRegistry } from "./tasks/registry.js";
import { version } from "./version.js";
import { createWorkerPool } from "./workers/worker-pool.js";

/** Agent is a configured server: its engine and store, and the port it serves them on. */
export interface Agent {
  readonly engine: Engine;
  readonly store: Store;
  /** This instance's name in the leases of the tasks it runs (see docs/scaling.md). */
  readonly instanceId: string;
  /** start recovers interrupted tasks, starts running tasks and listens; resolves with the URL. */
  start(): Promise<URL>;
  /**
   * stop shuts down gracefully: health turns NOT_SERVING, no new tasks start, running ones
   * get the grace period to finish (the rest are requeued for the next start), streams end,
   * connections close and the store is closed.
   */
  stop(): Promise<void>;
}

/** AgentOptions are the config plus where to report errors of background work. */
export interface AgentOptions {
  readonly config: AgentConfig;
  readonly onError?: (error: unknown) => void;
  /** Where notices for the operator go; stderr by default. */
  readonly log?: (line: string) => void;
}

/** createAgent opens the store and builds the whole server from its config, without listening. */
export async function createAgent(options: AgentOptions): Promise<Agent> {
  const { config } = options;
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  const log = options.log ?? ((line: string) => console.error(line));
  if (!usePooledProtobufWriter()) {
    log(
      "notice: protobuf-es's BinaryWriter is not the one expected; messages encode the stock way",
    );
  }
  const instanceId = randomUUID();
  const maxRunningTasksPerKey = shareOf(config.maxRunningTasksPerKey, config.maxConcurrentTasks, 4);
  const store = await openStore(config, instanceId);
  const addressPolicy = createAddressPolicy(listOf(config.fetchAllow), "fetchAllow");
  const pool =
    config.workerThreads > 0
      ? createWorkerPool({
          size: config.workerThreads,
          maxThreadsPerKey: shareOf(config.maxWorkerThreadsPerKey, config.workerThreads, 2),
        })
      : undefined;
  const plugins = createPluginHost({
    // An operator's plugin of the same entry name wins over a bundled one.
    directories: [config.pluginDir, bundledPluginDir].filter((dir) => dir !== ""),
    reservedTypes: new Set(builtinTasks.map((task) => taskTypeOf(task.field))),
    log,
  });
  const registry = createTaskRegistry(builtinTasks, pool, plugins);
  const engine = createEngine({
    store,
    registry,
    instanceId,
    leaseMs: config.leaseMs,
    request: (request) => guardedRequest(request, addressPolicy),
    onError,
    maxConcurrentTasks: config.maxConcurrentTasks,
    maxRunningTasksPerKey,
    defaultTimeoutMs: config.defaultTimeoutMs,
    maxTimeoutMs: config.maxTimeoutMs,
    maxOutputBytes: config.maxMessageBytes,
    maxAttempts: config.maxAttempts,
    maxTasksPerKey: config.maxTasksPerKey,
    maxQueuedTasks: config.maxQueuedTasks,
    streamIdleTimeoutMs: config.streamIdleTimeoutMs,
  });
  const health = createHealthStatus();
  const shutdown = new AbortController();
  // Every call in flight listens for shutdown: their number is not a sign of a leak.
  setMaxListeners(0, shutdown.signal);
  const maxPageSize = 1_000;
  const features = [
    "connect",
    "grpc",
    "grpc-web",
    "http2",
    "http1.1",
    "health",
    "reflection",
    "websocket",
  ];
  if (config.tlsCertFile) features.push("tls");
  const keys = createKeyManager(store.keys);
  const audit = createAuditLog({
    store: store.audit,
    retentionDays: config.auditRetentionDays,
    flushIntervalMs: 200,
    enabled: config.audit === "on",
    onError,
  });
  const doorOptions = doorOptionsOf(config, keys, store);
  const door = createDoor(doorOptions);
  // Read only after start, once the gateway (which needs the hub) exists.
  const realtime = () => gateway.stats();
  const hub = createChannelHub({
    taskEvents: engine.onEvent,
    // This instance's requests as it records them, and other instances' as they store them.
    auditEvents(listener) {
      const stopLocal = audit.onRecord(listener);
      const stopRemote = store.audit.onRemoteInsert((events) => events.forEach(listener));
      return () => {
        stopLocal();
        stopRemote();
      };
    },
    snapshot: createMetricsSource({ engine, store, realtime }),
    metricsIntervalMs: config.metricsIntervalMs,
    onError,
  });
  // One pacer for every connection: requests, streams and frames take turns alike.
  const pacer = new Pacer(workPerTurn);
  const gateway = createGateway({
    engine,
    hub,
    door,
    audit,
    authTimeoutMs: config.wsAuthTimeoutMs,
    types: plugins.types,
    pacer,
    limits: {
      heartbeatMs: config.wsHeartbeatMs,
      idleTimeoutMs: config.wsIdleTimeoutMs,
      maxFrameBytes: config.wsMaxFrameBytes,
      maxSubscriptions: config.wsMaxSubscriptions,
      maxBufferedBytes: config.wsMaxBufferedBytes,
    },
  });
  const handler = createRpcHandler({
    door,
    audit,
    maxMessageBytes: config.maxMessageBytes,
    corsOrigins: listOf(config.corsOrigins),
    onError,
    routes: routes({
      engine,
      keys,
      audit,
      auditStore: store.audit,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs,
      registry,
      health,
      hub,
      realtime,
      plugins,
      version,
      features,
      maxBatchSize: config.maxBatchSize,
      maxPageSize,
      limits: {
        maxMessageBytes: config.maxMessageBytes,
        maxBatchSize: config.maxBatchSize,
        maxConcurrentTasks: config.maxConcurrentTasks,
        maxRunningTasksPerKey,
        defaultTimeoutMs: config.defaultTimeoutMs,
        maxTimeoutMs: config.maxTimeoutMs,
        maxPageSize,
      },
    }),
    router: {
      // A misspelt field is an error naming it, not a field silently dropped.
      // Plugin task inputs and results are Any messages of the plugins' types.
      jsonOptions: { ignoreUnknownFields: false, registry: plugins.types },
      readMaxBytes: config.maxMessageBytes,
      writeMaxBytes: config.maxMessageBytes,
      shutdownSignal: shutdown.signal,
    },
  });
  const fileLimit = openFileLimit();
  const maxConnections = connectionCapOf(config.maxConnections, fileLimit);
  const listener = createListener({
    handler,
    streams: handler.stream,
    pacer,
    upgrade: gateway.handleUpgrade,
    deadlines: config,
    caps: {
      maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      uncapped: doorOptions.network.trustsProxy,
    },
    maxConcurrentStreams: config.maxConcurrentStreams,
    tls: config.tlsCertFile
      ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile }
      : undefined,
  });

  let stopWatchingStore = () => {};
  return {
    engine,
    store,
    instanceId,
    async start() {
      const adminKey = await keys.bootstrap(config.dataDir);
      if (adminKey)
        log(`no API keys yet: made an admin key and wrote it to ${adminKey} (keep it secret)`);
      await plugins.loadAll();
      await engine.start();
      const url = await listener.listen(config.port, config.host);
      log(
        `connections: at most ${maxConnections} (open-file limit ${fileLimit ?? "unknown"}), ${config.maxConnectionsPerAddress} from one address`,
      );
      health.set(ServingStatus.SERVING);
      // While the database does not answer, requests needing it fail with Unavailable and
      // health says NOT_SERVING; both recover by themselves when it is back.
      stopWatchingStore = store.onAvailability((available) =>
        health.set(available ? ServingStatus.SERVING : ServingStatus.NOT_SERVING),
      );
      return url;
    },
    async stop() {
      stopWatchingStore();
      health.set(ServingStatus.NOT_SERVING);
      gateway.close();
      // No new connections or HTTP/2 streams from here on; open streams go on for now.
      const closed = listener.close(config.shutdownGraceMs + 1_000);
      await engine.drain(config.shutdownGraceMs);
      // Ends the streams still open (watchers of tasks that were requeued).
      shutdown.abort();
      await closed;
      hub.close();
      await audit.close();
      await pool?.close();
      await plugins.close();
      await store.close();
    },
  };
}
