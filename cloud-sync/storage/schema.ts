/**
 * The cloud store's schema for both backends, as forward-only migrations:
 * MIGRATIONS[i] takes a database from version i to i + 1. Each backend runs
 * them in order, each in its own transaction with the version bump; a
 * database whose version is newer than this build's is refused
 * (E_STORAGE_SCHEMA_NEWER) and left untouched.
 *
 * Tables:
 * - gateways:    one row per gateway; its sequencing state (contiguous_seq,
 *                highest_seq) is only changed under the row's lock.
 * - credentials: sha256 of each token (never the token), role, gateway.
 * - records:     outbox rows as received, unique by (gateway_id, seq), with
 *                pipeline/device/metric taken from the payload for queries.
 * - skips:       tombstones: seq ranges the gateway declared it will never
 *                send (removed from its outbox under quota).
 * - checkpoints: the latest two state snapshots per gateway, as uploaded.
 */
export interface Migration {
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    sqlite: `
CREATE TABLE gateways (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  created_at_ms   INTEGER NOT NULL,
  contiguous_seq  INTEGER NOT NULL DEFAULT 0,
  highest_seq     INTEGER NOT NULL DEFAULT 0,
  last_seen_ms    INTEGER,
  heartbeat       TEXT,
  heartbeat_at_ms INTEGER
);
CREATE TABLE credentials (
  token_hash    TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('gateway', 'reader')),
  name          TEXT NOT NULL,
  gateway_id    INTEGER REFERENCES gateways (id),
  created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX readers_by_name ON credentials (name) WHERE role = 'reader';
CREATE TABLE records (
  gateway_id     INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  priority       INTEGER NOT NULL,
  series         TEXT NOT NULL,
  t_start        REAL NOT NULL,
  t_end          REAL NOT NULL,
  replayed       INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  pipeline       TEXT,
  device_id      TEXT,
  metric         TEXT,
  payload        BLOB NOT NULL,
  PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX records_by_device ON records (device_id, metric, kind, t_start);
CREATE INDEX records_by_gateway ON records (gateway_id, kind, t_start);
CREATE TABLE skips (
  gateway_id     INTEGER NOT NULL,
  from_seq       INTEGER NOT NULL,
  to_seq         INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  PRIMARY KEY (gateway_id, from_seq)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
  gateway_id      INTEGER NOT NULL,
  checkpoint_id   INTEGER NOT NULL,
  consumed_offset INTEGER NOT NULL,
  committed_at_ms INTEGER NOT NULL,
  next_seq        INTEGER NOT NULL,
  state_rows      INTEGER NOT NULL,
  bytes           INTEGER NOT NULL,
  received_at_ms  INTEGER NOT NULL,
  body            BLOB NOT NULL,
  PRIMARY KEY (gateway_id, checkpoint_id)
);`,
    postgres: `
CREATE TABLE gateways (
  id              SERIAL PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  created_at_ms   BIGINT NOT NULL,
  contiguous_seq  BIGINT NOT NULL DEFAULT 0,
  highest_seq     BIGINT NOT NULL DEFAULT 0,
  last_seen_ms    BIGINT,
  heartbeat       TEXT,
  heartbeat_at_ms BIGINT
);
CREATE TABLE credentials (
  token_hash    TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('gateway', 'reader')),
  name          TEXT NOT NULL,
  gateway_id    INTEGER REFERENCES gateways (id),
  created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX readers_by_name ON credentials (name) WHERE role = 'reader';
CREATE TABLE records (
  gateway_id     INTEGER NOT NULL,
  seq            BIGINT NOT NULL,
  kind           TEXT NOT NULL,
  priority       SMALLINT NOT NULL,
  series         TEXT NOT NULL,
  t_start        DOUBLE PRECISION NOT NULL,
  t_end          DOUBLE PRECISION NOT NULL,
  replayed       BOOLEAN NOT NULL,
  received_at_ms BIGINT NOT NULL,
  pipeline       TEXT,
  device_id      TEXT,
  metric         TEXT,
  payload        BYTEA NOT NULL,
  PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX records_by_device ON records (device_id, metric, kind, t_start);
-- A B-tree on (gateway_id, kind, t_start) costs ~30 % of the insert time;
-- rows arrive in time order per gateway, so a BRIN on time narrows
-- time-bounded gateway queries for almost nothing (the primary key serves
-- the rest).
CREATE INDEX records_by_time ON records USING brin (t_start);
CREATE TABLE skips (
  gateway_id     INTEGER NOT NULL,
  from_seq       BIGINT NOT NULL,
  to_seq         BIGINT NOT NULL,
  received_at_ms BIGINT NOT NULL,
  PRIMARY KEY (gateway_id, from_seq)
);
CREATE TABLE checkpoints (
  gateway_id      INTEGER NOT NULL,
  checkpoint_id   BIGINT NOT NULL,
  consumed_offset BIGINT NOT NULL,
  committed_at_ms DOUBLE PRECISION NOT NULL,
  next_seq        BIGINT NOT NULL,
  state_rows      INTEGER NOT NULL,
  bytes           INTEGER NOT NULL,
  received_at_ms  BIGINT NOT NULL,
  body            BYTEA NOT NULL,
  PRIMARY KEY (gateway_id, checkpoint_id)
);`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Snapshots kept per gateway (the latest and the one before, in case the latest is being replaced). */
export const CHECKPOINTS_KEPT = 2;
