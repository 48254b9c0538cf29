import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";

/** HealthStatus is the server's serving status, shared by every service it offers. */
export interface HealthStatus {
  /** The current status. */
  readonly status: ServingStatus;
  /** set changes the status and tells every watcher. */
  set(status: ServingStatus): void;
  /** onChange calls listener after each change; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** createHealthStatus starts NOT_SERVING until the server says it is ready. */
export function createHealthStatus(): HealthStatus {
  let status = ServingStatus.NOT_SERVING;
  const listeners = new Set<() => void>();
  return {
    get status() {
      return status;
    },
    set(next) {
      if (next === status) return;
      status = next;
      for (const listener of listeners) listener();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** HealthServiceOptions names what the health service reports on. */
export interface HealthServiceOptions {
  readonly health: HealthStatus;
  /** The services the server offers; "" (the whole server) is always known. */
  readonly serviceNames: readonly string[];
}

/** createHealthService serves grpc.health.v1.Health for the server and each of its services. */
export function createHealthService(options: HealthServiceOptions): ServiceImpl<typeof Health> {
  const known = new Set(["", ...options.serviceNames]);
  return {
    check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status: options.health.status };
    },
    async *watch(request, context) {
      if (!known.has(request.service)) {
        // The protocol keeps the stream open for a service that is not (yet) known.
        yield { status: ServingStatus.SERVICE_UNKNOWN };
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        return;
      }
      let wake: () => void = () => {};
      const unsubscribe = options.health.onChange(() => wake());
      const aborted = new Promise<void>((resolve) =>
        context.signal.addEventListener("abort", () => resolve()),
      );
      try {
        let sent: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const status = options.health.status;
          if (status !== sent) {
            sent = status;
            yield { status };
            // The status may have changed while the caller held the yield: look again.
            continue;
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
