import type { SqlDatabase } from './sql-database.ts';
import { StateError } from './state-errors.ts';

/**
 * The database schema, versioned in `meta.schema_version`. Migrations are
 * forward-only: MIGRATIONS[i] takes a database from version i to i + 1,
 * and each runs in its own transaction with the version bump. A file whose
 * version is higher than this build's is refused (E_STATE_SCHEMA_NEWER) and
 * left untouched, so that a downgrade never misreads newer data.
 */
const V1 = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value ANY
) STRICT, WITHOUT ROWID;

-- Ingest log: one row per group-committed batch (a segment). A record's
-- offset is first_offset + its index in the segment. Offsets start at 1.
CREATE TABLE log (
  first_offset  INTEGER PRIMARY KEY,
  count         INTEGER NOT NULL,
  bytes         INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  payload       BLOB NOT NULL
);

-- The last checkpoint (single row): consumed_offset is the highest log
-- offset whose effects are in state and outbox (0 = none).
CREATE TABLE checkpoint (
  id              INTEGER PRIMARY KEY CHECK (id = 1),
  checkpoint_id   INTEGER NOT NULL,
  consumed_offset INTEGER NOT NULL,
  committed_at_ms INTEGER NOT NULL
);

-- Operator state as of the last checkpoint (only ever written by a checkpoint transaction).
CREATE TABLE state (
  ns    TEXT NOT NULL,
  key   TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ns, key)
) WITHOUT ROWID;

-- Cold keys of bounded-memory operators: working memory on disk, not a checkpoint.
CREATE TABLE spill (
  ns    TEXT NOT NULL,
  key   TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ns, key)
) WITHOUT ROWID;

CREATE TABLE outbox (
  seq           INTEGER PRIMARY KEY,
  priority      INTEGER NOT NULL,
  kind          TEXT NOT NULL,
  series        TEXT NOT NULL,
  t_start       REAL NOT NULL,
  t_end         REAL NOT NULL,
  created_at_ms INTEGER NOT NULL,
  bytes         INTEGER NOT NULL,
  payload       BLOB NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (priority, created_at_ms, seq);
CREATE INDEX outbox_by_kind ON outbox (kind, priority, created_at_ms, seq);
CREATE INDEX outbox_by_series ON outbox (series, t_start, t_end);

-- Seqs that will never be delivered (merged away or dropped), as inclusive
-- ranges, until acked; the degrade record lists them.
CREATE TABLE outbox_removed (
  from_seq INTEGER PRIMARY KEY,
  to_seq   INTEGER NOT NULL
);

-- Persisted monotonic counters (degrade, quarantine), by name.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE quarantine (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  arrival_ms   INTEGER NOT NULL,
  source       TEXT NOT NULL,
  topic_or_uri TEXT NOT NULL,
  device_id    TEXT,
  reason_code  TEXT NOT NULL,
  detail       TEXT NOT NULL,
  raw          BLOB NOT NULL,
  bytes        INTEGER NOT NULL
);
`;

const MIGRATIONS: readonly ((db: SqlDatabase) => void)[] = [
  (db) => db.exec(V1),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function readSchemaVersion(db: SqlDatabase): number {
  const hasMeta = db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = 'meta'`).get();
  if (hasMeta === undefined) return 0;
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: unknown } | undefined;
  return row === undefined ? 0 : Number(row.value);
}

/** Brings the schema up to SCHEMA_VERSION; returns the version found (0 = new file). */
export function migrate(db: SqlDatabase, path: string): number {
  const found = readSchemaVersion(db);
  if (!Number.isInteger(found) || found < 0) {
    throw new StateError('E_STATE_CORRUPT', `${path}: meta.schema_version is not a version number`);
  }
  if (found > SCHEMA_VERSION) {
    throw new StateError('E_STATE_SCHEMA_NEWER',
      `${path} was written by schema version ${found}; this build knows up to ${SCHEMA_VERSION}. ` +
      'Refusing to open it (nothing was changed); run a newer weir or move the file away.');
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(v + 1);
    })();
  }
  return found;
}

/** meta table helpers (small values: numbers and strings). */
export function getMeta(db: SqlDatabase, key: string): number | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: unknown } | undefined;
  return row === undefined ? null : Number(row.value);
}

export function prepareSetMeta(db: SqlDatabase): (key: string, value: number) => void {
  const stmt = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  return (key, value) => {
    stmt.run(key, value);
  };
}
