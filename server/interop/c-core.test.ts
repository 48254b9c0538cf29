// gRPC's C core (Python grpcio, and so C++, Ruby, PHP, Objective-C) against the server: every
// refusal of the door must reach it as its status and message, at once, and the calls that
// pass must work. Stubs are made from proto/ by Debian's protoc and grpc_python_plugin
// (scripts/install-test-deps.sh installs them with python3-grpcio).
import { execFile } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../clients/node/client.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import { startTestAgent, type TestAgent, tempDir } from "../test-support.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

/** makeStubs writes the Python modules of proto/noizylab into a fresh folder. */
async function makeStubs(): Promise<string> {
  const out = tempDir("cloudagent-c-core-");
  const protos = ["agent", "plugins"].flatMap((folder) =>
    readdirSync(join(root, "proto", "noizylab", folder, "v1")).map(
      (file) => `noizylab/${folder}/v1/${file}`,
    ),
  );
  await run("/usr/bin/protoc", [
    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
    `-I${join(root, "proto")}`,
    "-I/usr/include",
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    ...protos,
  ]);
  return out;
}

interface Case {
  readonly name: string;
  readonly call: "get_task" | "watch_task" | "submit" | "reflection";
  readonly key?: string;
  readonly bytes?: number;
}

interface Outcome {
  readonly name: string;
  readonly code: string;
  readonly details: string;
  readonly seconds: number;
}

let server: TestAgent;
let stubs: string;

/** callWithCCore makes the calls from Python's grpcio, one after another on one channel. */
async function callWithCCore(cases: readonly Case[]): Promise<Map<string, Outcome>> {
  const { stdout } = await run(
    "/usr/bin/python3",
    [
      join(import.meta.dirname, "c-core-client.py"),
      stubs,
      `127.0.0.1:${server.url.port}`,
      JSON.stringify(cases),
    ],
    { timeout: 60_000, maxBuffer: 1 << 20 },
  );
  const outcomes = stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Outcome);
  return new Map(outcomes.map((outcome) => [outcome.name, outcome]));
}

beforeAll(async () => {
  [server, stubs] = await Promise.all([
    startTestAgent({ maxMessageBytes: 1024 * 1024 }),
    makeStubs(),
  ]);
});

afterAll(async () => {
  await server?.stop();
  if (stubs) rmSync(stubs, { recursive: true, force: true });
});

describe("a gRPC client on gRPC's C core (python3-grpcio)", () => {
  it("gets every refusal of the door as its status and message, within a second", async () => {
    const admin = createAgentClient({ baseUrl: server.url.href, apiKey: server.apiKey });
    const { key: submitOnly } = await admin.keys.createKey({
      name: "submit only",
      scopes: [Scope.TASKS_SUBMIT],
    });
    const { key: revoked, info } = await admin.keys.createKey({
      name: "revoked",
      scopes: [Scope.TASKS_READ],
    });
    await admin.keys.revokeKey({ keyId: info?.keyId ?? "" });
    const { key: mustSign } = await admin.keys.createKey({
      name: "must sign",
      scopes: [Scope.TASKS_READ],
      requireSignature: true,
    });
    // One call at once, then one every hundred seconds: the second call is over the limit.
    const { key: limited } = await admin.keys.createKey({
      name: "limited",
      scopes: [Scope.TASKS_READ],
      rateLimit: { perSecond: 0.01, burst: 1 },
    });
    const unknown = `ca_${"0".repeat(16)}_${"x".repeat(43)}`;
    const cases: (Case & { code: string; message: string })[] = [
      { name: "no key", call: "get_task", code: "UNAUTHENTICATED", message: "missing API key" },
      {
        name: "unknown key",
        call: "get_task",
        key: unknown,
        code: "UNAUTHENTICATED",
        message: "unknown API key",
      },
      {
        name: "revoked key",
        call: "get_task",
        key: revoked,
        code: "UNAUTHENTICATED",
        message: "was revoked",
      },
      {
        name: "missing scope",
        call: "get_task",
        key: submitOnly,
        code: "PERMISSION_DENIED",
        message: "tasks:read",
      },
      {
        name: "unsigned, with a key that must sign",
        call: "get_task",
        key: mustSign,
        code: "UNAUTHENTICATED",
        message: "requires signed requests",
      },
      { name: "within the rate", call: "get_task", key: limited, code: "NOT_FOUND", message: "" },
      {
        name: "over the rate",
        call: "get_task",
        key: limited,
        code: "RESOURCE_EXHAUSTED",
        message: "is over its rate limit",
      },
      {
        name: "no key, server stream",
        call: "watch_task",
        code: "UNAUTHENTICATED",
        message: "missing API key",
      },
      {
        name: "no key, bidi stream left open",
        call: "reflection",
        code: "UNAUTHENTICATED",
        message: "missing API key",
      },
      {
        name: "too large",
        call: "submit",
        key: server.apiKey,
        bytes: 2 * 1024 * 1024,
        code: "RESOURCE_EXHAUSTED",
        message: "",
      },
    ];
    const outcomes = await callWithCCore(cases);
    for (const expected of cases) {
      const outcome = outcomes.get(expected.name);
      expect(outcome, expected.name).toMatchObject({ code: expected.code });
      expect(outcome?.details, expected.name).toContain(expected.message);
      expect(outcome?.seconds, expected.name).toBeLessThan(1);
    }
  });

  it("calls through the door: a missing task is NOT_FOUND, a submit OK", async () => {
    const outcomes = await callWithCCore([
      { name: "get", call: "get_task", key: server.apiKey },
      { name: "submit", call: "submit", key: server.apiKey, bytes: 10 },
      { name: "watch", call: "watch_task", key: server.apiKey },
    ]);
    expect(outcomes.get("get")).toMatchObject({ code: "NOT_FOUND" });
    expect(outcomes.get("submit")).toMatchObject({ code: "OK" });
    expect(outcomes.get("watch")).toMatchObject({ code: "NOT_FOUND" });
  });
});
