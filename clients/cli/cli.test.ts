import { execFile } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrations } from "../../server/store/postgres/pg-migrations.js";
import { createDatabase } from "../../server/store/postgres/throwaway-postgres.js";
import { startTestAgent, type TestAgent, tempDir } from "../../server/test-support.js";

const execFileAsync = promisify(execFile);
const bin = join(import.meta.dirname, "..", "..", "bin", "cloudagent.js");
const home = tempDir("cloudagent-home-");

let server: TestAgent;
beforeAll(async () => {
  server = await startTestAgent();
});
afterAll(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

/** cloudagent runs the CLI as a user would, against the test server unless env says otherwise. */
async function cloudagent(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [bin, ...args], {
      env: {
        ...process.env,
        HOME: home,
        CLOUDAGENT_ENDPOINT: server.url.href,
        CLOUDAGENT_API_KEY: server.apiKey,
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("cloudagent", () => {
  it("migrates a PostgreSQL database, and says what is wrong with a bad URL", async () => {
    const url = await createDatabase(inject("postgresUrl"));
    const migrated = await cloudagent(["migrate"], { CLOUDAGENT_DATABASE_URL: url });
    expect(migrated.stderr).toMatch(
      /the database \(PostgreSQL at 127\.0\.0\.1:\d+\/test_\w+\) has the latest schema/,
    );
    expect(migrated.code).toBe(0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT version FROM schema_migrations ORDER BY version");
    await client.end();
    expect(rows.map((row) => row.version)).toEqual(migrations.map((_, index) => index + 1));
    const bad = await cloudagent(["migrate"], { CLOUDAGENT_DATABASE_URL: "mysql://x" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("databaseUrl must be a postgres:// or postgresql:// URL");
  });

  it("runs a task, showing progress on stderr and the result on stdout", async () => {
    const result = await cloudagent(["run", "delay", "--data", '{"durationMs":30,"steps":3}']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ delay: { steps: 3 } });
    expect(result.stderr).toContain("100% step 3 of 3");
  });

  it("status without an id shows the server's version, health and round-trip latency", async () => {
    const result = await cloudagent(["status"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^version {2}\d+\.\d+\.\d+/m);
    expect(result.stdout).toContain("health   serving");
    expect(result.stdout).toMatch(/^latency {2}[\d.]+ ms \(median of 5 pings\)$/m);
    const json = JSON.parse((await cloudagent(["status", "--json"])).stdout);
    expect(json).toMatchObject({ health: "SERVING" });
    expect(json.latencyMs).toBeGreaterThan(0);
  });

  it("submits, shows, watches, lists and cancels tasks, with --json for machines", async () => {
    const submitted = await cloudagent(["submit", "echo", "--data", '{"text":"cli"}', "--json"]);
    const task = JSON.parse(submitted.stdout) as { id: string; state: string };
    // A pure task runs as it is submitted.
    expect(task.state).toBe("TASK_STATE_SUCCEEDED");
    const watched = await cloudagent(["watch", task.id]);
    expect(watched.stdout).toContain("succeeded");
    const status = await cloudagent(["status", task.id]);
    expect(status.stdout).toMatch(/state\s+succeeded/);
    const listed = await cloudagent(["list", "--type", "echo", "--json"]);
    expect(listed.stdout.split("\n").some((line) => line.includes(task.id))).toBe(true);

    const long = await cloudagent(["submit", "delay", "--data", '{"durationMs":60000}']);
    const cancelled = await cloudagent(["cancel", long.stdout.trim(), "--reason", "from the cli"]);
    expect(cancelled.stdout).toContain("canceled: from the cli");
    const again = await cloudagent(["cancel", long.stdout.trim()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("failed_precondition");
  });

  it("speaks Connect, gRPC and gRPC-Web, and exits as soon as the task ends", async () => {
    for (const protocol of ["connect", "grpc", "grpc-web"]) {
      const args = ["run", "compress", "--data", '{"text":"hi"}', "--protocol", protocol, "--json"];
      const result = await cloudagent(args);
      expect(result.code).toBe(0);
      expect(result.stdout.trim().split("\n").at(-1)).toContain(
        '"result":{"compress":{"data":"H4sI',
      );
    }
  });

  it("runs plugin tasks from their input's JSON, lists task types, and manages plugins", async () => {
    const csv = await cloudagent(["run", "csv-parser", "--data", '{"text":"name,age\\nAda,36"}']);
    expect(csv.code).toBe(0);
    expect(JSON.parse(csv.stdout).plugin).toMatchObject({
      type: "csv-parser",
      output: {
        "@type": "type.googleapis.com/noizylab.plugins.v1.CsvParserResult",
        rows: [{ line: 2, values: ["Ada", 36] }],
      },
    });
    const submitted = await cloudagent([
      "submit",
      "json-merger",
      "--data",
      '{"documents":["{\\"a\\":1}","{\\"b\\":2}"]}',
    ]);
    const id = submitted.stdout.trim();
    await cloudagent(["watch", id]);
    const shown = JSON.parse((await cloudagent(["status", id, "--json"])).stdout);
    expect(shown.spec.plugin.input["@type"]).toBe(
      "type.googleapis.com/noizylab.plugins.v1.JsonMergerTask",
    );
    expect(shown.result.plugin.output.merged).toBe('{"a":1,"b":2}');
    const misfit = await cloudagent(["run", "csv-parser", "--data", '{"txt":"a"}']);
    expect(misfit.code).toBe(2);
    expect(misfit.stderr).toContain("--data does not fit a csv-parser task");

    const types = await cloudagent(["types"]);
    expect(types.stdout).toMatch(/^echo +built in +Returns/m);
    expect(types.stdout).toMatch(/^csv-parser +plugin csv-parser +Parses CSV/m);
    const unloaded = await cloudagent(["plugins", "unload", "sentiment-scorer"]);
    expect(unloaded.stdout).toMatch(/^sentiment-scorer +unloaded +1\.0\.0 +sentiment-scorer$/m);
    const loaded = await cloudagent(["plugins", "load", "sentiment-scorer"]);
    expect(loaded.stdout).toMatch(/^sentiment-scorer +loaded /m);
    // Loaded anew: a worker thread imports the new generation of the module.
    const scored = await cloudagent(["run", "sentiment-scorer", "--data", '{"text":"Great!"}']);
    expect(JSON.parse(scored.stdout).plugin.output.tone).toBe("TONE_POSITIVE");
    const listed = await cloudagent(["plugins", "list", "--json"]);
    expect(
      listed.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).entry),
    ).toContain("keyword-extractor");
  });

  it("explains usage mistakes and exits 2", async () => {
    const unknownType = await cloudagent(["run", "teleport", "--data", "{}"]);
    expect(unknownType.code).toBe(2);
    expect(unknownType.stderr).toContain('unknown task type "teleport"; known types: echo, delay');
    const badJson = await cloudagent(["run", "echo", "--data", "{text"]);
    expect(badJson.stderr).toContain("--data is not valid JSON");
    const badFlag = await cloudagent(["list", "--frobnicate"]);
    expect(badFlag.code).toBe(2);
    const noServer = await cloudagent(["status", "x"], {
      CLOUDAGENT_ENDPOINT: "http://127.0.0.1:9",
    });
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toContain("unavailable");
  });

  it("init writes the config file that later commands use", async () => {
    const written = await cloudagent(
      ["init", "--endpoint", server.url.href, "--protocol", "grpc", "--yes"],
      {
        CLOUDAGENT_ENDPOINT: "",
      },
    );
    expect(written.code).toBe(0);
    const path = join(home, ".cloudagent", "config.json");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      endpoint: server.url.href.replace(/\/$/, ""),
      protocol: "grpc",
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const used = await cloudagent(["run", "uuid", "--data", '{"count":2}'], {
      CLOUDAGENT_ENDPOINT: "",
    });
    expect(JSON.parse(used.stdout).uuid.uuids).toHaveLength(2);
    const refused = await cloudagent(["init", "--endpoint", "ftp://x", "--yes"]);
    expect(refused.stderr).toContain("must start with http:// or https://");
  });

  it("manages keys and exports the audit trail", async () => {
    const created = await cloudagent([
      "keys",
      "create",
      "--name",
      "reader",
      "--scope",
      "tasks:read",
      "--json",
    ]);
    expect(created.code).toBe(0);
    const { key, info } = JSON.parse(created.stdout) as { key: string; info: { keyId: string } };
    const refused = await cloudagent(["run", "echo", "--data", '{"text":"x"}'], {
      CLOUDAGENT_API_KEY: key,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("permission_denied: API key");
    const listed = await cloudagent(["keys", "list"]);
    expect(listed.stdout).toMatch(new RegExp(`${info.keyId}\\s+active\\s+tasks:read`));
    expect((await cloudagent(["keys", "revoke", info.keyId])).stdout).toContain("revoked");
    const gone = await cloudagent(["list"], { CLOUDAGENT_API_KEY: key });
    expect(gone.stderr).toContain("was revoked");
    const csv = await cloudagent(["audit", "--format", "csv"]);
    const lines = csv.stdout.trim().split("\n");
    expect(lines[0]).toBe(
      "time,keyId,procedure,taskType,taskId,peerIp,country,userAgent,protocol,code,durationMs,bytesIn,bytesOut,reason,taskOwnerKeyId",
    );
    expect(
      lines.some((line) => line.includes(info.keyId) && line.includes("permission_denied")),
    ).toBe(true);
    const json = await cloudagent([
      "audit",
      "--format",
      "json",
      "--since",
      new Date(Date.now() - 60_000).toISOString(),
    ]);
    expect(
      json.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).procedure),
    ).toContain("/noizylab.agent.v1.KeyService/CreateKey");
    expect((await cloudagent(["keys", "create", "--name", "x", "--scope", "root"])).code).toBe(2);
  });
});
