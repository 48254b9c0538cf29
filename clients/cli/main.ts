import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { migrate, serve } from "../../server/main.js";
import { createAgentClient } from "../node/client.js";
import { auditCommand, keysCommand, pluginsCommand } from "./admin-commands.js";
import {
  checkEndpoint,
  checkProtocol,
  defaultEndpoint,
  readCliConfig,
  resolveApiKey,
} from "./cli-config.js";
import type { CommandInput } from "./command-input.js";
import {
  cancelCommand,
  listCommand,
  runCommand,
  statusCommand,
  submitCommand,
  typesCommand,
  watchCommand,
} from "./commands.js";
import { initCommand } from "./init.js";
import { helpText, UsageError } from "./usage.js";

const commands = {
  run: runCommand,
  submit: submitCommand,
  status: statusCommand,
  watch: watchCommand,
  cancel: cancelCommand,
  list: listCommand,
  types: typesCommand,
  keys: keysCommand,
  plugins: pluginsCommand,
  audit: auditCommand,
};

const options = {
  endpoint: { type: "string" },
  protocol: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  config: { type: "string" },
  data: { type: "string" },
  priority: { type: "string" },
  "idempotency-key": { type: "string" },
  timeout: { type: "string" },
  after: { type: "string" },
  reason: { type: "string" },
  state: { type: "string", multiple: true },
  type: { type: "string", multiple: true },
  since: { type: "string" },
  limit: { type: "string" },
  "page-token": { type: "string" },
  yes: { type: "boolean", short: "y" },
  key: { type: "string" },
  name: { type: "string" },
  scope: { type: "string", multiple: true },
  expires: { type: "string" },
  format: { type: "string" },
} as const;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

async function dispatch(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new UsageError(cause instanceof Error ? cause.message : String(cause));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    out(helpText);
    return command === undefined && !values.help ? 2 : 0;
  }
  const env = process.env;
  if (command === "serve") {
    await serve({ configFile: values.config });
    return 0;
  }
  if (command === "migrate") {
    await migrate({ configFile: values.config });
    return 0;
  }
  if (command === "init") {
    return initCommand({
      endpoint: values.endpoint,
      protocol: values.protocol,
      apiKey: values.key,
      yes: values.yes ?? false,
      env,
      out,
    });
  }
  if (!Object.hasOwn(commands, command))
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const saved = readCliConfig(env);
  const endpoint = checkEndpoint(
    values.endpoint ?? (env.CLOUDAGENT_ENDPOINT || saved.endpoint) ?? defaultEndpoint,
  );
  const protocol = checkProtocol(
    values.protocol ?? (env.CLOUDAGENT_PROTOCOL || saved.protocol) ?? "connect",
  );
  const apiKey = resolveApiKey(values.key, env, saved);
  // Signing costs little, and works whether or not the key requires it.
  const client = createAgentClient({
    baseUrl: endpoint,
    protocol,
    apiKey,
    sign: apiKey !== undefined,
  });
  const input: CommandInput = { positionals: rest, values, json: values.json ?? false, out, err };
  return commands[command as keyof typeof commands](client, input);
}

/** main runs the cloudagent command with its arguments and resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    return await dispatch(args);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`cloudagent: ${error.message}\nRun cloudagent --help for usage.`);
      return 2;
    }
    if (error instanceof ConnectError) {
      err(`cloudagent: ${codeToString(error.code)}: ${error.rawMessage}`);
      return 1;
    }
    err(`cloudagent: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
