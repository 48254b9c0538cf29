import type { PgDatabase } from "./pg-database.js";

/**
 * migrations are the PostgreSQL schema's versions, applied in order at start (or by
 * `cloudagent migrate`); each runs once. Never edit a released migration: add the next one.
 * Times are milliseconds since the epoch, as in SQLite.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE tasks (
    id text PRIMARY KEY,
    type text NOT NULL,
    spec bytea NOT NULL,
    state integer NOT NULL,
    progress double precision NOT NULL DEFAULT 0,
    progress_note text NOT NULL DEFAULT '',
    priority integer NOT NULL,
    idempotency_key text UNIQUE,
    attempts integer NOT NULL DEFAULT 0,
    timeout_ms bigint NOT NULL,
    created_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    result bytea,
    error_code text,
    error_message text,
    last_sequence bigint NOT NULL,
    key_id text NOT NULL DEFAULT '',
    lease_owner text,
    lease_expires_at bigint
  );
  CREATE INDEX tasks_queue ON tasks (priority DESC, id) WHERE state = 1;
  CREATE INDEX tasks_by_state ON tasks (state, id);
  CREATE INDEX tasks_by_created ON tasks (created_at);
  CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 2;
  CREATE TABLE task_events (
    task_id text NOT NULL REFERENCES tasks (id),
    sequence bigint NOT NULL,
    event bytea NOT NULL,
    PRIMARY KEY (task_id, sequence)
  );

  -- Counts kept by a trigger, so the caps checked on every submit read a few rows instead of
  -- counting the queue. Each count is spread over shards (one per connection, by its process
  -- id) so that transactions on different connections do not queue for one hot row; readers
  -- add the shards up. A transaction takes the rows it changes in one order (lower state
  -- first, then its key's), so two never wait for each other in a cycle.
  CREATE TABLE task_state_counts (
    state integer NOT NULL,
    shard integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (state, shard)
  );
  CREATE TABLE key_unfinished_counts (
    key_id text NOT NULL,
    shard integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (key_id, shard)
  );
  CREATE FUNCTION add_task_count(p_state integer, p_delta integer) RETURNS void
  LANGUAGE sql AS $$
    INSERT INTO task_state_counts AS c (state, shard, n) VALUES (p_state, pg_backend_pid() % 16, p_delta)
    ON CONFLICT (state, shard) DO UPDATE SET n = c.n + p_delta
  $$;
  CREATE FUNCTION add_unfinished_count(p_key_id text, p_delta integer) RETURNS void
  LANGUAGE sql AS $$
    INSERT INTO key_unfinished_counts AS c (key_id, shard, n) VALUES (p_key_id, pg_backend_pid() % 16, p_delta)
    ON CONFLICT (key_id, shard) DO UPDATE SET n = c.n + p_delta
  $$;
  CREATE FUNCTION count_task_states() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'INSERT' THEN
      PERFORM add_task_count(NEW.state, 1);
      IF NEW.state IN (1, 2) THEN
        PERFORM add_unfinished_count(NEW.key_id, 1);
      END IF;
      RETURN NULL;
    END IF;
    IF OLD.state = NEW.state THEN
      RETURN NULL;
    END IF;
    PERFORM add_task_count(LEAST(OLD.state, NEW.state), CASE WHEN OLD.state < NEW.state THEN -1 ELSE 1 END);
    PERFORM add_task_count(GREATEST(OLD.state, NEW.state), CASE WHEN OLD.state < NEW.state THEN 1 ELSE -1 END);
    IF (OLD.state IN (1, 2)) <> (NEW.state IN (1, 2)) THEN
      PERFORM add_unfinished_count(NEW.key_id, CASE WHEN NEW.state IN (1, 2) THEN 1 ELSE -1 END);
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER tasks_counted AFTER INSERT OR UPDATE OF state ON tasks
    FOR EACH ROW EXECUTE FUNCTION count_task_states();

  CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    name text NOT NULL,
    scopes text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    revoked_at bigint,
    rate_per_second double precision,
    rate_burst integer,
    signing_key bytea NOT NULL,
    require_signature boolean NOT NULL DEFAULT false
  );
  CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    time bigint NOT NULL,
    key_id text NOT NULL,
    procedure text NOT NULL,
    task_type text NOT NULL,
    task_id text NOT NULL,
    peer_ip text NOT NULL,
    country text NOT NULL,
    user_agent text NOT NULL,
    protocol text NOT NULL,
    code text NOT NULL,
    duration_ms bigint NOT NULL,
    bytes_in bigint NOT NULL,
    bytes_out bigint NOT NULL,
    reason text NOT NULL
  );
  CREATE INDEX audit_events_by_time ON audit_events (time);

  -- Short-lived and checked on every request: unlogged, so writing them costs no WAL flush.
  -- A crash of PostgreSQL empties them (a replay window of the nonces' lifetime; buckets
  -- start full), as a power cut may forget SQLite's last nonces.
  CREATE UNLOGGED TABLE request_nonces (
    key_id text NOT NULL,
    nonce text NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (key_id, nonce)
  );
  CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at);
  CREATE UNLOGGED TABLE rate_buckets (
    bucket text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at double precision NOT NULL
  );
  -- Refills a bucket by PostgreSQL's clock (the instances' clocks need not agree) and spends
  -- a token, holding the row's lock throughout: 0 when it got one, else the ms to wait.
  CREATE FUNCTION take_rate_token(p_bucket text, p_burst float8, p_rate float8) RETURNS float8
  LANGUAGE plpgsql AS $$
  DECLARE
    now_ms float8 := extract(epoch FROM clock_timestamp()) * 1000;
    available float8;
  BEGIN
    INSERT INTO rate_buckets AS b (bucket, tokens, updated_at) VALUES (p_bucket, p_burst, now_ms)
    ON CONFLICT (bucket) DO UPDATE
      SET tokens = LEAST(p_burst, b.tokens + GREATEST(now_ms - b.updated_at, 0) / 1000 * p_rate),
          updated_at = now_ms
    RETURNING b.tokens INTO available;
    IF available < 1 THEN
      RETURN ceil((1 - available) / p_rate * 1000);
    END IF;
    UPDATE rate_buckets SET tokens = available - 1 WHERE bucket = p_bucket;
    RETURN 0;
  END $$;
  `,
  // Tasks belong to the API key that submitted them: idempotency keys are scoped by it (see
  // scopedIdempotencyKey), a key lists its own tasks, and the audit trail names the owner of
  // a task another key acted on.
  `
  UPDATE tasks SET idempotency_key = key_id || ':' || idempotency_key
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX tasks_by_key ON tasks (key_id, id);
  ALTER TABLE audit_events ADD COLUMN task_owner_key_id text NOT NULL DEFAULT '';
  `,
  // Claims share the slots among keys (see claimTurns): each key's queue read in its order.
  `
  DROP INDEX tasks_queue;
  CREATE INDEX tasks_queue_by_key ON tasks (key_id, priority DESC, id) WHERE state = 1;
  `,
];

/** lockId is the advisory lock instances take so that only one migrates at a time. */
const lockId = 0x636c6f75; // "clou"

/**
 * migrate applies the migrations a database lacks, in one transaction holding an advisory
 * lock: instances starting together wait for each other instead of racing. It returns how
 * many it applied.
 */
export async function migrate(db: PgDatabase): Promise<number> {
  return db.transaction(async (query) => {
    await query("SELECT pg_advisory_xact_lock($1)", [lockId]);
    await query("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)");
    const [row] = await query<{ v: number }>(
      "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations",
    );
    const applied = row?.v ?? 0;
    for (const [index, sql] of migrations.entries()) {
      const version = index + 1;
      if (version <= applied) continue;
      await query(sql);
      await query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
    }
    return migrations.length - applied;
  });
}
