// Memory per idle HTTP/2 connection: open many, each after one call, and see the server's
// resident memory grow. The server collects its garbage before each reading: otherwise where
// its collector happens to be moves resident memory more than a thousand connections do.
import * as http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { send } from "./check.js";
import { rssBytesOf, type ServerUnderTest } from "./server-process.js";
import type { RequestShape } from "./workloads.js";

/** measureIdleConnections is the server's resident memory per idle connection, in bytes. */
export async function measureIdleConnections(
  server: ServerUnderTest,
  request: RequestShape,
  count: number,
): Promise<number> {
  // One call first, so whatever the server sets up once is not counted.
  await send(server.port, request, server.headers);
  await sleep(500);
  await server.collectGarbage();
  const before = rssBytesOf(server.pid);
  const sessions: http2.ClientHttp2Session[] = [];
  try {
    for (let i = 0; i < count; i += 50) {
      const batch = Array.from({ length: Math.min(50, count - i) }, async () => {
        const session = http2.connect(`http://127.0.0.1:${server.port}`);
        sessions.push(session);
        await new Promise<void>((resolve, reject) => {
          const stream = session.request({
            ":method": "POST",
            ":path": request.path,
            ...request.headers,
            ...server.headers,
          });
          stream.on("data", () => {});
          stream.once("end", resolve);
          stream.once("error", reject);
          stream.end(request.body);
        });
      });
      await Promise.all(batch);
    }
    await sleep(1_000);
    await server.collectGarbage();
    return (rssBytesOf(server.pid) - before) / count;
  } finally {
    for (const session of sessions) session.destroy();
  }
}
