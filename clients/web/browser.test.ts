import { createServer, type Server } from "node:http";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { startTestAgent, type TestAgent } from "../../server/test-support.js";
import { createAgentClient } from "../node/client.js";

// The page's script: it uses clients/web as a page would, and reports to window.report.
const pageScript = `
import { connectRealtime, createWebClient } from "./index.ts";
const report = (window.report = { progress: [], channel: [], signed: [], state: "", error: "" });
const realtime = connectRealtime({ url: window.agentUrl, apiKey: window.apiKey });
try {
  await realtime.subscribe({ target: { case: "taskType", value: "uuid" } }, (event) => {
    if (event.payload.case === "taskEvent") report.channel.push(event.payload.value.kind.case);
  });
  report.subscribed = true;
  const last = await realtime.submit(
    { spec: { task: { case: "delay", value: { durationMs: 40, steps: 4 } } } },
    { onEvent: (event) => { if (event.kind.case === "progress") report.progress.push(event.kind.value.percent); } },
  );
  report.state = String(last.state);
  // RPCs over fetch, signed on WebCrypto with a key that requires signatures.
  for (const [protocol, useJson] of [["connect", false], ["grpc-web", true]]) {
    const web = createWebClient({ baseUrl: window.agentHttp, apiKey: window.signedKey, sign: true, protocol, useJson });
    const { task } = await web.tasks.submit({ spec: { task: { case: "echo", value: { text: "signed" } } } });
    report.signed.push(protocol + ":" + task.type);
  }
} catch (error) {
  report.error = String(error);
}
report.done = true;
`;

let agent: TestAgent;
let page: Server;
let browser: Browser;
let pageUrl: string;

beforeAll(async () => {
  agent = await startTestAgent({ corsOrigins: "*" });
  const admin = createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey });
  const { key: signedKey } = await admin.keys.createKey({
    name: "browser",
    scopes: [Scope.TASKS_SUBMIT],
    requireSignature: true,
  });
  const bundle = await build({
    stdin: {
      contents: pageScript,
      resolveDir: import.meta.dirname,
      loader: "ts",
      sourcefile: "page.ts",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    write: false,
  });
  const script = bundle.outputFiles[0]?.text ?? "";
  const html = `<!doctype html><meta charset="utf-8"><title>cloudagent realtime</title>
<script>window.agentUrl = "ws://${agent.url.host}/ws"; window.apiKey = "${agent.apiKey}"; window.agentHttp = "${agent.url.href}"; window.signedKey = "${signedKey}";</script>
<script type="module" src="/page.js"></script>`;
  page = createServer((request, response) => {
    const isScript = request.url === "/page.js";
    response.writeHead(200, { "content-type": isScript ? "text/javascript" : "text/html" });
    response.end(isScript ? script : html);
  });
  await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
  const address = page.address() as { port: number };
  pageUrl = `http://127.0.0.1:${address.port}/`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  page?.close();
  await agent?.stop();
});

describe("clients/web in Chromium", () => {
  it("connects, submits a delay task and sees its progress, and follows a channel", async () => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (error) => errors.push(String(error)));
    await tab.goto(pageUrl);
    await tab.waitForFunction(
      () => (window as unknown as { report?: { subscribed?: boolean } }).report?.subscribed,
    );
    await createAgentClient({ baseUrl: agent.url.href, apiKey: agent.apiKey }).run({
      case: "uuid",
      value: {},
    });
    await tab.waitForFunction(() => {
      const report = (window as unknown as { report: { done?: boolean; channel: string[] } })
        .report;
      return report.done && report.channel.includes("result");
    });
    const report = await tab.evaluate(() => (window as unknown as { report: unknown }).report);
    expect(errors).toEqual([]);
    expect(report).toMatchObject({
      error: "",
      state: "3",
      progress: [25, 50, 75, 100],
      signed: ["connect:echo", "grpc-web:echo"],
      channel: ["stateChange", "stateChange", "result"],
    });
  });
});
