import { createInterface } from "node:readline/promises";
import {
  type CliConfig,
  checkEndpoint,
  checkProtocol,
  defaultEndpoint,
  writeCliConfig,
} from "./cli-config.js";

/** InitInput is what `cloudagent init` was given. */
export interface InitInput {
  readonly endpoint: string | undefined;
  readonly protocol: string | undefined;
  readonly apiKey: string | undefined;
  /** Take defaults for whatever no flag gives instead of asking. */
  readonly yes: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (line: string) => void;
}

/**
 * initCommand writes ~/.cloudagent/config.json. Scripts pass flags (and --yes); people at a
 * terminal are asked for what the flags leave out.
 */
export async function initCommand(input: InitInput): Promise<number> {
  const interactive = !input.yes && process.stdin.isTTY === true;
  const prompt = interactive
    ? createInterface({ input: process.stdin, output: process.stderr })
    : undefined;
  try {
    const ask = async (question: string, fallback: string) =>
      prompt ? (await prompt.question(`${question} [${fallback}]: `)).trim() || fallback : fallback;
    const endpoint = checkEndpoint(
      input.endpoint ?? (await ask("Agent endpoint", defaultEndpoint)),
    );
    const protocol = checkProtocol(
      input.protocol ?? (await ask("Protocol (connect, grpc, grpc-web)", "connect")),
    );
    const apiKey = input.apiKey ?? (await ask("API key (empty for none)", ""));
    const config: CliConfig = apiKey ? { endpoint, protocol, apiKey } : { endpoint, protocol };
    input.out(`wrote ${writeCliConfig(input.env, config)}`);
    return 0;
  } finally {
    prompt?.close();
  }
}
