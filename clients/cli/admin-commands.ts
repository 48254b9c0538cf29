import { toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type AuditEvent, AuditEventSchema } from "../../gen/noizylab/agent/v1/audit_pb.js";
import { type KeyInfo, KeyInfoSchema, Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import {
  type PluginInfo,
  PluginInfoSchema,
  PluginState,
} from "../../gen/noizylab/agent/v1/plugin_pb.js";
import type { AgentClient } from "../node/client.js";
import { type CommandInput, dateOption, listOption, option } from "./command-input.js";
import { UsageError } from "./usage.js";

const scopeNames: Record<string, Scope> = {
  "tasks:submit": Scope.TASKS_SUBMIT,
  "tasks:read": Scope.TASKS_READ,
  "tasks:read:all": Scope.TASKS_READ_ALL,
  "metrics:read": Scope.METRICS_READ,
  admin: Scope.ADMIN,
};

function describeKey(info: KeyInfo): string {
  const scopes = info.scopes
    .map((s) => Object.keys(scopeNames).find((name) => scopeNames[name] === s))
    .join(",");
  const state = info.revokedAt
    ? "revoked"
    : info.expiresAt && timestampDate(info.expiresAt) < new Date()
      ? "expired"
      : "active";
  const expires = info.expiresAt ? ` expires ${timestampDate(info.expiresAt).toISOString()}` : "";
  return `${info.keyId}  ${state.padEnd(8)} ${scopes.padEnd(28)} ${info.name}${expires}`;
}

/** keysCommand is `cloudagent keys create|list|revoke`. */
export async function keysCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const [action, keyId] = input.positionals;
  const print = (info: KeyInfo) =>
    input.out(input.json ? JSON.stringify(toJson(KeyInfoSchema, info)) : describeKey(info));
  switch (action) {
    case "create": {
      const name = option(input, "name");
      if (name === undefined) throw new UsageError("keys create needs --name");
      const names = listOption(input, "scope");
      if (names.length === 0)
        throw new UsageError(`keys create needs --scope (${Object.keys(scopeNames).join(", ")})`);
      const scopes = names.map((scope) => {
        const value = scopeNames[scope];
        if (value === undefined)
          throw new UsageError(
            `unknown scope ${JSON.stringify(scope)}: use ${Object.keys(scopeNames).join(", ")}`,
          );
        return value;
      });
      const expires = dateOption(input, "expires");
      const created = await client.keys.createKey({
        name,
        scopes,
        expiresAt: expires && timestampFromDate(expires),
      });
      if (input.json) {
        input.out(
          JSON.stringify({
            key: created.key,
            info: created.info && toJson(KeyInfoSchema, created.info),
          }),
        );
      } else {
        input.out(created.key);
        input.err("This is the only time the key is shown: keep it somewhere safe.");
      }
      return 0;
    }
    case "list":
      for (const info of (await client.keys.listKeys({})).keys) print(info);
      return 0;
    case "revoke": {
      if (keyId === undefined) throw new UsageError("keys revoke needs a key id");
      const { info } = await client.keys.revokeKey({ keyId });
      if (info) print(info);
      return 0;
    }
    default:
      throw new UsageError("keys needs one of: create, list, revoke");
  }
}

const csvColumns = [
  "time",
  "keyId",
  "procedure",
  "taskType",
  "taskId",
  "peerIp",
  "country",
  "userAgent",
  "protocol",
  "code",
  "durationMs",
  "bytesIn",
  "bytesOut",
  "reason",
  "taskOwnerKeyId",
] as const;

function csvCell(value: unknown): string {
  const text = String(value ?? "");
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvRow(event: AuditEvent): string {
  return csvColumns
    .map((column) =>
      csvCell(
        column === "time"
          ? event.time
            ? timestampDate(event.time).toISOString()
            : ""
          : event[column],
      ),
    )
    .join(",");
}

/** auditCommand is `cloudagent audit`: the audit trail, newest first, as CSV or JSON lines. */
export async function auditCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const format = option(input, "format") ?? (input.json ? "json" : "csv");
  if (format !== "csv" && format !== "json")
    throw new UsageError(`--format must be csv or json, got ${JSON.stringify(format)}`);
  const since = dateOption(input, "since");
  if (format === "csv") input.out(csvColumns.join(","));
  let pageToken = "";
  do {
    const page = await client.agent.listAuditEvents({
      since: since && timestampFromDate(since),
      pageSize: 1_000,
      pageToken,
    });
    for (const event of page.events) {
      input.out(format === "csv" ? csvRow(event) : JSON.stringify(toJson(AuditEventSchema, event)));
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return 0;
}

function describePlugin(info: PluginInfo): string {
  const state = (PluginState[info.state] ?? String(info.state)).toLowerCase();
  const tasks = info.taskTypes.join(",");
  const error = info.error ? `  (${info.error})` : "";
  return `${info.entry.padEnd(20)} ${state.padEnd(9)} ${info.version.padEnd(8)} ${tasks}${error}`;
}

/** pluginsCommand is `cloudagent plugins list|load|unload` (admin). */
export async function pluginsCommand(client: AgentClient, input: CommandInput): Promise<number> {
  const [action, name] = input.positionals;
  const print = (info: PluginInfo) =>
    input.out(input.json ? JSON.stringify(toJson(PluginInfoSchema, info)) : describePlugin(info));
  switch (action) {
    case "list":
    case undefined: {
      const { plugins } = await client.agent.listPlugins({});
      plugins.forEach(print);
      return 0;
    }
    case "load":
    case "unload": {
      if (name === undefined) throw new UsageError(`plugins ${action} needs a plugin name`);
      const { plugin } =
        action === "load"
          ? await client.agent.loadPlugin({ entry: name })
          : await client.agent.unloadPlugin({ name });
      if (plugin) print(plugin);
      return 0;
    }
    default:
      throw new UsageError(
        `unknown plugins action ${JSON.stringify(action)}: use list, load or unload`,
      );
  }
}
