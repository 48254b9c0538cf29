// The floor: node:http2's core API answering every request with a canned response, the
// bytes the protocol expects for a Ping of the benchmark's payload, without decoding
// anything. Prints its port as JSON on stdout.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { cannedAnswers } from "../workloads.js";

const answers = cannedAnswers(Number(process.env.PAYLOAD_BYTES ?? 7));
const server = http2.createServer({ settings: { maxConcurrentStreams: 1_000 } });
server.on("stream", (stream, headers) => {
  const answer = answers.get(String(headers["content-type"]));
  stream.on("data", () => {});
  stream.on("end", () => {
    if (answer === undefined) {
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    stream.respond(
      { ":status": 200, "content-type": answer.contentType },
      {
        waitForTrailers: answer.trailers !== undefined,
      },
    );
    if (answer.trailers) {
      stream.once("wantTrailers", () => stream.sendTrailers(answer.trailers ?? {}));
    }
    stream.end(answer.body);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
