import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { Protocol } from "../node/client.js";

/** CliConfig is what `cloudagent init` writes to ~/.cloudagent/config.json. */
export interface CliConfig {
  /** The agent's address. */
  readonly endpoint: string;
  /** The wire protocol. */
  readonly protocol: Protocol;
  /** The API key, when init was given one. */
  readonly apiKey?: string;
}

/** The endpoint used when no flag, variable or config file names one. */
export const defaultEndpoint = "http://127.0.0.1:8080";

/** protocols lists the valid --protocol values. */
export const protocols: readonly Protocol[] = ["connect", "grpc", "grpc-web"];

/** configPath is where the CLI keeps its config: ~/.cloudagent/config.json. */
export function configPath(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), ".cloudagent", "config.json");
}

/** readCliConfig reads the config file; a missing file is an empty config. */
export function readCliConfig(env: NodeJS.ProcessEnv): Partial<CliConfig> {
  const path = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as Partial<CliConfig>;
  } catch (cause) {
    throw new Error(`${path} is not valid JSON (${String(cause)}); run cloudagent init again`);
  }
}

/** writeCliConfig writes the config file, creating its directory, readable by the user only. */
export function writeCliConfig(env: NodeJS.ProcessEnv, config: CliConfig): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/**
 * resolveApiKey finds the key to send: the flag, CLOUDAGENT_API_KEY, the config file, or, for
 * a server started from this directory, the admin key it wrote to ./data/admin.key.
 */
export function resolveApiKey(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  saved: Partial<CliConfig>,
): string | undefined {
  const given = flag ?? (env.CLOUDAGENT_API_KEY || saved.apiKey);
  if (given) return given;
  try {
    return readFileSync(join(env.CLOUDAGENT_DATA_DIR || "data", "admin.key"), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** checkEndpoint throws unless the endpoint is an http or https URL. */
export function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`endpoint ${JSON.stringify(endpoint)} is not a URL, e.g. ${defaultEndpoint}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`endpoint ${JSON.stringify(endpoint)} must start with http:// or https://`);
  }
  return endpoint.replace(/\/+$/, "");
}

/** checkProtocol throws unless the value is a known protocol. */
export function checkProtocol(value: string): Protocol {
  if (!(protocols as readonly string[]).includes(value)) {
    throw new Error(`protocol ${JSON.stringify(value)} is not one of ${protocols.join(", ")}`);
  }
  return value as Protocol;
}
