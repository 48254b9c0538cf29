import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { startTestAgent, tempDir } from "../test-support.js";
import { createListener, type ListenerDeadlines } from "./listener.js";

const dir = tempDir();

/** deadlines are generous ones, but for those a test sets. */
const deadlines = (set: Partial<ListenerDeadlines>): ListenerDeadlines => ({
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  requestTimeoutMs: 60_000,
  minBodyBytesPerSecond: 1_000,
  ...set,
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** selfSigned makes a certificate for 127.0.0.1 with openssl. */
function selfSigned(): { certFile: string; keyFile: string } {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}

describe("listener", () => {
  it("serves HTTP/2 with prior knowledge and HTTP/1.1 on one cleartext port", async () => {
    const listener = createListener({
      handler: (request, response) => response.end(`HTTP/${request.httpVersion}`),
      deadlines: deadlines({ headerTimeoutMs: 1_000 }),
      maxConcurrentStreams: 100,
    });
    const url = await listener.listen(0, "127.0.0.1");
    expect(await (await fetch(url)).text()).toBe("HTTP/1.1");
    const session = http2.connect(url);
    const stream = session.request({ ":path": "/" });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    await new Promise((resolve) => stream.on("end", resolve));
    expect(body).toBe("HTTP/2.0");
    session.close();
    await listener.close(1_000);
  });

  it("serves TLS with ALPN when a certificate is configured", async () => {
    const tls = selfSigned();
    const server = await startTestAgent({ tlsCertFile: tls.certFile, tlsKeyFile: tls.keyFile });
    expect(server.url.protocol).toBe("https:");
    const ca = readFileSync(tls.certFile);
    const session = http2.connect(server.url, { ca });
    await new Promise((resolve) => session.once("connect", resolve));
    expect(session.alpnProtocol).toBe("h2");
    session.close();
    const client = createAgentClient({
      baseUrl: server.url.href,
      apiKey: server.apiKey,
      protocol: "grpc",
      nodeOptions: { ca },
    });
    const result = await client.run({ case: "echo", value: { text: "over tls" } });
    expect(result.text).toBe("over tls");
    const capabilities = await client.agent.getCapabilities({});
    expect(capabilities.features).toContain("tls");
    await server.stop();
  });

  it("cuts off slowloris: a silent connection, and headers that never end", async () => {
    const listener = createListener({
      handler: (_request, response) => response.end("ok"),
      deadlines: deadlines({ headerTimeoutMs: 200 }),
      maxConcurrentStreams: 7,
    });
    const url = await listener.listen(0, "127.0.0.1");
    const closed = (send: string) =>
      new Promise<void>((resolve) => {
        const socket = connect(Number(url.port), "127.0.0.1", () => socket.write(send));
        socket.on("error", () => {});
        socket.once("close", () => resolve());
      });
    await closed("");
    await closed("GET / HTTP/1.1\r\nhost: x\r\nx-slow: ");
    const session = http2.connect(url);
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(7);
    session.close();
    await listener.close(1_000);
  });
});
