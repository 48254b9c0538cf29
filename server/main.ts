import { createAgent } from "./agent.js";
import { type AgentConfig, loadConfig } from "./config.js";
import { openStore } from "./store/open-store.js";

/** ServeOptions configure the `serve` and `migrate` commands. */
export interface ServeOptions {
  /** A JSON config file, overriding CLOUDAGENT_CONFIG. */
  readonly configFile?: string | undefined;
  /** Where to log; stderr by default. */
  readonly log?: (line: string) => void;
}

/** where names the store for the log, without the database password. */
function where(config: AgentConfig): string {
  if (config.databaseUrl === "") return config.dataDir;
  const url = new URL(config.databaseUrl);
  return `PostgreSQL at ${url.host}${url.pathname}`;
}

/**
 * serve reads the config, starts the agent and stops it gracefully on SIGTERM or SIGINT:
 * running tasks get the grace period, the rest stay queued for the next start.
 */
export async function serve(options: ServeOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const config: AgentConfig = loadConfig({ env: process.env, file: options.configFile });
  const agent = await createAgent({
    config,
    log,
    onError: (error) => log(`error: ${String(error)}`),
  });
  const url = await agent.start();
  log(
    `cloudagent instance ${agent.instanceId} listening on ${url.href} (data in ${where(config)})`,
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping; running tasks have ${config.shutdownGraceMs} ms to finish`);
    agent.stop().then(
      () => {
        log("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log(`error while stopping: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/**
 * migrate applies the migrations the configured database lacks, and stops: for operators who
 * migrate before rolling out new instances (each instance also migrates at start).
 */
export async function migrate(options: ServeOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const config = loadConfig({ env: process.env, file: options.configFile });
  const store = await openStore(config, "migrate");
  await store.close();
  log(`the database (${where(config)}) has the latest schema`);
}
