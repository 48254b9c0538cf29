// The client side of the fan-out benchmark, in its own process: opens the sockets, subscribes
// (for the gateway), counts frames, and reports to the parent over IPC.
import WebSocket from "ws";

interface Start {
  readonly url: string;
  readonly sockets: number;
  /** Send the gateway's subscribe frame (all task events) on each socket. */
  readonly subscribe: boolean;
}

const send = (message: object) => process.send?.(message);
let received = 0;
let target = Number.POSITIVE_INFINITY;
const sockets: WebSocket[] = [];

function count(): void {
  received++;
  if (received === target) send({ type: "done", at: performance.timeOrigin + performance.now() });
}

async function open(start: Start): Promise<void> {
  const subscribe = JSON.stringify({ requestId: "s", subscribe: { channel: { allTasks: {} } } });
  await Promise.all(
    Array.from({ length: start.sockets }, () => {
      const ws = new WebSocket(start.url);
      sockets.push(ws);
      return new Promise<void>((resolve, reject) => {
        ws.once("error", reject);
        ws.on("message", (data) => {
          // The gateway's own frames (welcome, subscribed) are not counted.
          if (start.subscribe && !String(data).startsWith('{"event"')) {
            if (String(data).includes('"subscribed"')) resolve();
            return;
          }
          count();
        });
        ws.once("open", () => {
          if (start.subscribe) ws.send(subscribe);
          else resolve();
        });
      });
    }),
  );
  send({ type: "ready" });
}

process.on("message", (message: { type: string } & Partial<Start> & { expect?: number }) => {
  if (message.type === "open")
    open(message as unknown as Start).catch((error) =>
      send({ type: "error", error: String(error) }),
    );
  if (message.type === "expect") {
    received = 0;
    target = message.expect ?? 0;
    send({ type: "armed" });
  }
  if (message.type === "close") {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
