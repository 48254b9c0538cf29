/** UsageError is a mistake on the command line: the CLI prints it with a hint and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** helpText is the CLI's --help. */
export const helpText = `cloudagent: run and follow typed tasks on a Cloud Agent server

Usage: cloudagent <command> [options]

Commands:
  serve                     start the server (config: CLOUDAGENT_* variables or --config FILE)
  migrate                   bring the configured database's schema up to date, and exit
                            (SQLite in CLOUDAGENT_DATA_DIR, or CLOUDAGENT_DATABASE_URL)
  run <type> --data JSON    run a task, show its progress and print its result; a plugin's
                            type too (its input's JSON, its schema fetched by reflection)
  submit <type> --data JSON submit a task and print its id
  types                     list the task types the server runs, with the plugins providing them
  status [<id>]             show a task; without an id, the server's version, health and
                            round-trip latency (a few Pings)
  watch <id>                follow a task's events until it ends (--after N resumes after event N)
  cancel <id>               cancel a queued or running task (--reason TEXT)
  list                      list tasks, newest first (--state S, --type T, --since TIME, --limit N,
                            --page-token T)
  init                      write ~/.cloudagent/config.json (--endpoint, --protocol, --key, --yes)
  keys create|list|revoke   manage API keys (admin): create --name N --scope S [--expires TIME]
  audit                     export the audit trail (admin): --since TIME, --format csv|json
  plugins list|load|unload  manage plugins (admin): load <entry> (loads it anew if loaded),
                            unload <name>

Options:
  --endpoint URL            the server (default: CLOUDAGENT_ENDPOINT, the config file, or http://127.0.0.1:8080)
  --protocol P              connect (default), grpc or grpc-web (or CLOUDAGENT_PROTOCOL)
  --key KEY                 the API key (default: CLOUDAGENT_API_KEY, the config file, or
                            ./data/admin.key, which a server started here writes)
  --json                    machine output: Protobuf JSON, one message per line
  --priority N              run/submit: 0 to 100, higher first (default: quick work higher)
  --idempotency-key KEY     run/submit: a repeat with the same key returns the first task
  --timeout MS              run/submit: how long one attempt may run
  -h, --help                show this help

Examples:
  cloudagent run echo --data '{"text":"hello"}'
  cloudagent run delay --data '{"durationMs":2000,"steps":4}'
  cloudagent run csv-parser --data '{"text":"name,age\\nAda,36"}'
  cloudagent list --state running --json
  cloudagent keys create --name ci --scope tasks:submit --scope tasks:read
`;
