// Sends one request the way h2load will, and checks the answer: a server that answers
// wrongly fails the benchmark instead of looking fast.
import * as http2 from "node:http2";
import type { ServerUnderTest } from "./server-process.js";
import {
  type Answer,
  echoes,
  type Protocol,
  payloadOf,
  type RequestShape,
  submitted,
} from "./workloads.js";

/** send sends one request over a fresh HTTP/2 connection and collects the answer. */
export function send(
  port: number,
  request: RequestShape,
  headers: Record<string, string>,
): Promise<Answer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  return new Promise<Answer>((resolve, reject) => {
    session.once("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": request.path,
      ...request.headers,
      ...headers,
    });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: Answer["headers"] = {};
    let trailers: Answer["trailers"] = {};
    stream.once("response", (received) => {
      status = Number(received[":status"]);
      responseHeaders = received;
    });
    stream.once("trailers", (received) => {
      trailers = received;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () =>
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers }),
    );
    stream.once("error", reject);
    stream.end(request.body);
  }).finally(() => session.close());
}

/**
 * checkEchoes sends a request and checks it comes back as `count` echoes of the payload;
 * it returns the answer's body size, to check h2load's byte counts against.
 */
export async function checkEchoes(
  port: number,
  protocol: Protocol,
  request: RequestShape,
  headers: Record<string, string>,
  payloadBytes: number,
  count = 1,
): Promise<number> {
  const answer = await send(port, request, headers);
  const payloads = echoes(protocol, answer);
  const expected = Buffer.from(payloadOf(payloadBytes));
  if (payloads.length !== count || payloads.some((p) => !expected.equals(Buffer.from(p)))) {
    throw new Error(
      `wrong answer: ${payloads.length} echoes, expected ${count} of ${payloadBytes} bytes`,
    );
  }
  return answer.body.length;
}

/** checkSubmit checks a Submit is answered with a new task; it returns the answer's size. */
export async function checkSubmit(server: ServerUnderTest, request: RequestShape): Promise<number> {
  const answer = await send(server.port, request, server.headers);
  submitted(answer);
  return answer.body.length;
}
