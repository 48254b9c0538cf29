/**
 * migrations are the SQLite schema's versions, applied in order at start; each runs once,
 * in its own transaction. Never edit a released migration: add the next one.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    spec BLOB NOT NULL,
    state INTEGER NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    progress_note TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    timeout_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    result BLOB,
    error_code TEXT,
    error_message TEXT,
    last_sequence INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX tasks_queue ON tasks (priority DESC, id) WHERE state = 1;
  CREATE INDEX tasks_by_state ON tasks (state, id);
  CREATE INDEX tasks_by_created ON tasks (created_at);
  CREATE TABLE task_events (
    task_id TEXT NOT NULL REFERENCES tasks (id),
    sequence INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (task_id, sequence)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    rate_per_second REAL,
    rate_burst INTEGER,
    signing_key BLOB NOT NULL,
    require_signature INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE request_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    procedure TEXT NOT NULL,
    task_type TEXT NOT NULL,
    task_id TEXT NOT NULL,
    peer_ip TEXT NOT NULL,
    country TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    protocol TEXT NOT NULL,
    code TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    reason TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_events_by_time ON audit_events (time);
  `,
  `
  ALTER TABLE tasks ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
  CREATE INDEX tasks_unfinished_by_key ON tasks (key_id) WHERE state IN (1, 2);
  `,
  // Counts kept by triggers, so the caps and metrics checked on every submit read one row
  // instead of counting a queue that may be long.
  `
  CREATE TABLE task_state_counts (state INTEGER PRIMARY KEY, n INTEGER NOT NULL) STRICT;
  INSERT INTO task_state_counts (state, n) SELECT state, COUNT(*) FROM tasks GROUP BY state;
  CREATE TABLE key_unfinished_counts (key_id TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT;
  INSERT INTO key_unfinished_counts (key_id, n)
    SELECT key_id, COUNT(*) FROM tasks WHERE state IN (1, 2) GROUP BY key_id;
  DROP INDEX tasks_unfinished_by_key;
  CREATE TRIGGER tasks_counted_on_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_state_counts (state, n) VALUES (NEW.state, 1)
      ON CONFLICT (state) DO UPDATE SET n = n + 1;
    INSERT INTO key_unfinished_counts (key_id, n) SELECT NEW.key_id, 1 WHERE NEW.state IN (1, 2)
      ON CONFLICT (key_id) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER tasks_counted_on_update AFTER UPDATE OF state ON tasks
  WHEN OLD.state != NEW.state BEGIN
    UPDATE task_state_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO task_state_counts (state, n) VALUES (NEW.state, 1)
      ON CONFLICT (state) DO UPDATE SET n = n + 1;
    -- Tasks are inserted queued, so their key's row exists by the time they change state.
    UPDATE key_unfinished_counts
      SET n = n + (NEW.state IN (1, 2)) - (OLD.state IN (1, 2))
      WHERE key_id = NEW.key_id;
  END;
  `,
  // Leases of running tasks (see Store.claimTasks); one instance uses a SQLite file, but
  // the store keeps the same contract as the shared engines.
  `
  ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
  ALTER TABLE tasks ADD COLUMN lease_expires_at INTEGER;
  `,
  // The counts moved to the store's memory (see TaskCounts): the one instance that owns the
  // file counts its own writes, instead of triggers writing two more rows for each of them.
  `
  DROP TRIGGER tasks_counted_on_insert;
  DROP TRIGGER tasks_counted_on_update;
  DROP TABLE task_state_counts;
  DROP TABLE key_unfinished_counts;
  `,
  // Whether a task has events in task_events, or its row implies them all (see keepEvent in
  // sqlite-store.ts). Those written before may have: they keep storing theirs.
  `
  ALTER TABLE tasks ADD COLUMN events_stored INTEGER NOT NULL DEFAULT 1;
  `,
  // Tasks belong to the API key that submitted them: idempotency keys are scoped by it (see
  // scopedIdempotencyKey), a key lists its own tasks, and the audit trail names the owner of
  // a task another key acted on.
  `
  UPDATE tasks SET idempotency_key = key_id || ':' || idempotency_key
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX tasks_by_key ON tasks (key_id, id);
  ALTER TABLE audit_events ADD COLUMN task_owner_key_id TEXT NOT NULL DEFAULT '';
  `,
  // Claims share the slots among keys (see claimTurns): each key's queue read in its order.
  `
  DROP INDEX tasks_queue;
  CREATE INDEX tasks_queue_by_key ON tasks (key_id, priority DESC, id) WHERE state = 1;
  `,
  // Expired nonces are deleted through an index, every few seconds (see nonceSweepMs): a
  // scan of every nonce of the last ten minutes took ~20 ms of each signed call at 500 a second.
  `
  CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at);
  `,
];
