// The peer users compare with: @grpc/grpc-js serving AgentService's Ping and PingStream
// from the same .proto files. Prints its port as JSON on stdout.
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const protoDir = join(import.meta.dirname, "..", "..", "..", "proto");
const definition = protoLoader.loadSync("noizylab/agent/v1/agent_service.proto", {
  includeDirs: [protoDir],
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  noizylab: { agent: { v1: { AgentService: grpc.ServiceClientConstructor } } };
};

const now = () => {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
};

interface PingRequest {
  payload: Buffer;
  count?: number;
}

const server = new grpc.Server({ "grpc.max_concurrent_streams": 1_000 });
server.addService(loaded.noizylab.agent.v1.AgentService.service, {
  Ping(call: grpc.ServerUnaryCall<PingRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
    callback(null, { payload: call.request.payload, serverTime: now() });
  },
  PingStream(call: grpc.ServerWritableStream<PingRequest, unknown>) {
    const count = call.request.count ?? 0;
    let sent = 0;
    // Writes as fast as the stream takes them, as our server's stream does.
    const write = () => {
      while (sent < count) {
        sent++;
        if (!call.write({ payload: call.request.payload, serverTime: now() })) {
          call.once("drain", write);
          return;
        }
      }
      call.end();
    };
    write();
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
