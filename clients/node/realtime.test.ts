import { describe, expect, it } from "vitest";
import { TaskState } from "../../gen/noizylab/agent/v1/task_pb.js";
import { startTestAgent } from "../../server/test-support.js";
import { createAgentClient } from "./client.js";
import { connectRealtime } from "./realtime.js";

function wsUrl(url: URL): string {
  return `ws://${url.host}/ws`;
}

describe("the Node realtime client", () => {
  it.each([false, true])(
    "submits with progress and gets channel events (binary: %s)",
    async (binary) => {
      const server = await startTestAgent();
      const realtime = connectRealtime({ url: wsUrl(server.url), apiKey: server.apiKey, binary });
      const typed: string[] = [];
      const subscription = await realtime.subscribe(
        { target: { case: "taskType", value: "uuid" } },
        (event) => {
          if (event.payload.case === "taskEvent") typed.push(event.payload.value.kind.case ?? "");
        },
      );
      const percents: number[] = [];
      const last = await realtime.submit(
        { spec: { task: { case: "delay", value: { durationMs: 20, steps: 2 } } } },
        {
          onEvent: (event) => {
            if (event.kind.case === "progress") percents.push(event.kind.value.percent);
          },
        },
      );
      expect(last.state).toBe(TaskState.SUCCEEDED);
      expect(percents).toEqual([50, 100]);
      await createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey }).run({
        case: "uuid",
        value: {},
      });
      await expect.poll(() => typed).toEqual(["stateChange", "stateChange", "result"]);
      expect(await realtime.ping()).toBeGreaterThanOrEqual(0);
      await subscription.unsubscribe();
      realtime.close();
      await server.stop();
    },
  );

  it("reconnects after the server restarts and resubscribes", async () => {
    const first = await startTestAgent();
    const port = Number(first.url.port);
    const realtime = connectRealtime({
      url: wsUrl(first.url),
      apiKey: first.apiKey,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    const seen: string[] = [];
    await realtime.subscribe({ target: { case: "taskType", value: "echo" } }, (event) => {
      if (event.payload.case === "taskEvent" && event.payload.value.kind.case === "result")
        seen.push(event.payload.value.taskId);
    });
    const firstSession = realtime.sessionId;
    await first.stop({ keepData: true });
    const second = await startTestAgent({ port, dataDir: first.config.dataDir });
    const reconnected = () =>
      realtime.sessionId !== undefined && realtime.sessionId !== firstSession;
    await expect.poll(reconnected, { timeout: 10_000 }).toBe(true);
    await expect
      .poll(
        async () =>
          (
            await createAgentClient({
              baseUrl: second.url.href,
              apiKey: second.apiKey,
            }).agent.getCapabilities({})
          ).realtime?.subscriptions,
      )
      .toBe(1);
    const { task } = await createAgentClient({
      baseUrl: second.url.href,
      apiKey: second.apiKey,
    }).tasks.submit({
      spec: { task: { case: "echo", value: { text: "after the restart" } } },
    });
    await expect.poll(() => seen).toEqual([task?.id]);
    realtime.close();
    await second.stop();
  });
});
