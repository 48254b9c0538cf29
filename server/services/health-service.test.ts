import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { createHealthService, createHealthStatus } from "./health-service.js";

function healthClient() {
  const health = createHealthStatus();
  const transport = createRouterTransport((router) =>
    router.service(
      Health,
      createHealthService({ health, serviceNames: ["noizylab.agent.v1.TaskService"] }),
    ),
  );
  return { health, client: createClient(Health, transport) };
}

describe("Health", () => {
  it("checks the server and its services, and refuses unknown ones with NotFound", async () => {
    const { health, client } = healthClient();
    expect((await client.check({})).status).toBe(ServingStatus.NOT_SERVING);
    health.set(ServingStatus.SERVING);
    expect((await client.check({ service: "noizylab.agent.v1.TaskService" })).status).toBe(
      ServingStatus.SERVING,
    );
    await expect(client.check({ service: "nope.Service" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("watches: the current status at once, then each change", async () => {
    const { health, client } = healthClient();
    health.set(ServingStatus.SERVING);
    const leave = new AbortController();
    const seen: ServingStatus[] = [];
    try {
      for await (const { status } of client.watch({}, { signal: leave.signal })) {
        seen.push(status);
        if (seen.length === 1) health.set(ServingStatus.NOT_SERVING);
        if (seen.length === 2) leave.abort();
      }
    } catch (error) {
      expect(ConnectError.from(error).code).toBe(Code.Canceled);
    }
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });

  it("watches an unknown service as SERVICE_UNKNOWN without ending the stream", async () => {
    const { client } = healthClient();
    const leave = new AbortController();
    const seen: ServingStatus[] = [];
    try {
      for await (const { status } of client.watch(
        { service: "later.Service" },
        { signal: leave.signal },
      )) {
        seen.push(status);
        leave.abort();
      }
    } catch (error) {
      expect(ConnectError.from(error).code).toBe(Code.Canceled);
    }
    expect(seen).toEqual([ServingStatus.SERVICE_UNKNOWN]);
  });
});
