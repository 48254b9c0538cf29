import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { envName, loadConfig } from "./config.js";
import { tempDir } from "./test-support.js";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

describe("loadConfig", () => {
  it("has defaults that need no setup: 127.0.0.1:8080, ./data, 4 MiB messages", () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDir: resolve("data"),
      maxMessageBytes: 4 * 1024 * 1024,
      tlsCertFile: "",
    });
  });

  it("takes a file, and environment variables over the file", () => {
    const path = file("config.json", { port: 9000, host: "::1", maxConcurrentTasks: 3 });
    const config = loadConfig({ env: { CLOUDAGENT_CONFIG: path, CLOUDAGENT_PORT: "9100" } });
    expect(config).toMatchObject({ port: 9100, host: "::1", maxConcurrentTasks: 3 });
    expect(envName("maxMessageBytes")).toBe("CLOUDAGENT_MAX_MESSAGE_BYTES");
  });

  it.each([
    [
      { CLOUDAGENT_PORT: "70000" },
      'CLOUDAGENT_PORT: must be an integer from 0 to 65535, got "70000"',
    ],
    [{ CLOUDAGENT_MAX_MESSAGE_BYTES: "1.5" }, "CLOUDAGENT_MAX_MESSAGE_BYTES: must be an integer"],
    [{ CLOUDAGENT_TLS_CERT_FILE: "cert.pem" }, "tlsCertFile and tlsKeyFile must be set together"],
    [
      { CLOUDAGENT_DEFAULT_TIMEOUT_MS: "5000", CLOUDAGENT_MAX_TIMEOUT_MS: "1000" },
      "defaultTimeoutMs must not exceed",
    ],
  ])("refuses %o, naming the setting", (env, message) => {
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it("refuses a config file that is not JSON or names an unknown setting", () => {
    expect(() => loadConfig({ env: {}, file: file("broken.json", "{port") })).toThrow(
      /broken\.json/,
    );
    expect(() => loadConfig({ env: {}, file: file("typo.json", { prot: 1 }) })).toThrow(
      'unknown setting "prot"',
    );
    expect(() => loadConfig({ env: {}, file: file("wrong.json", { port: "x" }) })).toThrow(
      "port: must be an integer",
    );
  });
});
