// The stock path: connect-node's connectNodeAdapter on node:http2, serving Ping and
// PingStream as our server does. Prints its port as JSON on stdout.
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { AddressInfo } from "node:net";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AgentService } from "../../../gen/noizylab/agent/v1/agent_service_pb.js";

const handler = connectNodeAdapter({
  routes(router) {
    router.service(AgentService, {
      ping: (request) => ({ payload: request.payload, serverTime: timestampNow() }),
      async *pingStream(request) {
        for (let i = 0; i < request.count; i++) {
          yield { payload: request.payload, serverTime: timestampNow() };
        }
      },
    });
  },
});
// HTTP/2 on one port, HTTP/1.1 on another (the stock adapter serves both, not on one port).
const server = http2.createServer({ settings: { maxConcurrentStreams: 1_000 } }, handler);
const http1Server = http.createServer(handler);
const portOf = (listening: net.Server) => (listening.address() as AddressInfo).port;
server.listen(0, "127.0.0.1", () => {
  http1Server.listen(0, "127.0.0.1", () => {
    const ports = { port: portOf(server), http1Port: portOf(http1Server) };
    process.stdout.write(`${JSON.stringify(ports)}\n`);
  });
});
