import Database from 'better-sqlite3';
import type { HeartbeatBody } from '../protocol.ts';
import { CloudError } from '../errors.ts';
import { CHECKPOINTS_KEPT, MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import { planIngest, walkContiguous, WALK_PAGE } from './ingest-plan.ts';
import type {
  CloudStorage, GatewayRow, IngestBatch, IngestResult, Principal, RecordQuery, SeqStatus, SnapshotMeta, StorageCounts,
  StoredRecord, StoredSnapshot, SyncState,
} from './storage-types.ts';

/**
 * CloudStorage on one SQLite file (better-sqlite3 12, synchronous): THE
 * module of cloud-sync that talks to SQLite. WAL; `synchronous = FULL` by
 * default because an ack lets the gateway delete its copy, so what was
 * acked must survive a power cut. Writes run as BEGIN IMMEDIATE
 * transactions (one writer at a time, also across processes sharing the
 * file, with a busy timeout), which is what serializes a gateway's batches.
 * The event loop is blocked while a transaction runs (a 1,000-record batch:
 * a few ms).
 */
export interface SqliteStorageOptions {
  readonly path: string;
  readonly synchronous?: 'NORMAL' | 'FULL';
  readonly busyTimeoutMs?: number;
}

type Db = Database.Database;
type Stmt = Database.Statement<unknown[]>;

interface GatewayDbRow {
  id: number; name: string; createdAtMs: number; contiguousSeq: number; highestSeq: number; lastSeenMs: number | null;
  heartbeat: string | null; heartbeatAtMs: number | null;
}

interface CheckpointDbRow {
  checkpointId: number; consumedOffset: number; committedAtMs: number; nextSeq: number; stateRows: number; bytes: number; receivedAtMs: number;
}

const GATEWAY_COLUMNS = `id, name, created_at_ms AS createdAtMs, contiguous_seq AS contiguousSeq, highest_seq AS highestSeq,
  last_seen_ms AS lastSeenMs, heartbeat, heartbeat_at_ms AS heartbeatAtMs`;
const CHECKPOINT_COLUMNS = `checkpoint_id AS checkpointId, consumed_offset AS consumedOffset, committed_at_ms AS committedAtMs,
  next_seq AS nextSeq, state_rows AS stateRows, bytes, received_at_ms AS receivedAtMs`;
const RECORD_COLUMNS = `g.name AS gateway, r.seq, r.kind, r.priority, r.series, r.t_start AS tStart, r.t_end AS tEnd, r.replayed,
  r.received_at_ms AS receivedAtMs, r.pipeline, r.device_id AS deviceId, r.metric, r.payload`;

function storageError(e: unknown, op: string): never {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('SQLITE_')) {
    throw new CloudError('E_STORAGE', `sqlite ${op}: ${e.code}: ${e.message}`, { cause: e });
  }
  throw e;
}

export class SqliteStorage implements CloudStorage {
  readonly backend = 'sqlite' as const;
  private readonly db: Db;
  private readonly s: Record<'gatewayLock' | 'insertRecord' | 'insertSkip' | 'walk' | 'updateSeqs' | 'authenticate' | 'gatewayByName' |
    'latestCheckpointId' | 'insertCheckpoint' | 'pruneCheckpoints' | 'latestCheckpoint' | 'recordAt' | 'skipAt' | 'heartbeat', Stmt>;

  private constructor(db: Db) {
    this.db = db;
    const p = (sql: string): Stmt => db.prepare<unknown[]>(sql);
    this.s = {
      gatewayLock: p('SELECT contiguous_seq AS c, highest_seq AS h FROM gateways WHERE id = ?'),
      insertRecord: p(`INSERT INTO records (gateway_id, seq, kind, priority, series, t_start, t_end, replayed, received_at_ms, pipeline, device_id, metric, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_id, seq) DO NOTHING`),
      insertSkip: p('INSERT INTO skips (gateway_id, from_seq, to_seq, received_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      walk: p(`SELECT seq FROM records WHERE gateway_id = ? AND seq > ? ORDER BY seq LIMIT ${WALK_PAGE}`),
      updateSeqs: p('UPDATE gateways SET contiguous_seq = ?, highest_seq = ?, last_seen_ms = ? WHERE id = ?'),
      authenticate: p('SELECT c.role, c.name, c.gateway_id AS gatewayId, g.name AS gateway FROM credentials c LEFT JOIN gateways g ON g.id = c.gateway_id WHERE c.token_hash = ?'),
      gatewayByName: p(`SELECT ${GATEWAY_COLUMNS} FROM gateways WHERE name = ?`),
      latestCheckpointId: p('SELECT MAX(checkpoint_id) AS m FROM checkpoints WHERE gateway_id = ?'),
      insertCheckpoint: p(`INSERT INTO checkpoints (gateway_id, checkpoint_id, consumed_offset, committed_at_ms, next_seq, state_rows, bytes, received_at_ms, body)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      pruneCheckpoints: p(`DELETE FROM checkpoints WHERE gateway_id = ? AND checkpoint_id NOT IN
        (SELECT checkpoint_id FROM checkpoints WHERE gateway_id = ? ORDER BY checkpoint_id DESC LIMIT ${CHECKPOINTS_KEPT})`),
      latestCheckpoint: p(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE gateway_id = ? ORDER BY checkpoint_id DESC LIMIT 1`),
      recordAt: p('SELECT kind, priority, received_at_ms AS receivedAtMs, replayed FROM records WHERE gateway_id = ? AND seq = ?'),
      skipAt: p('SELECT to_seq AS t FROM skips WHERE gateway_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1'),
      heartbeat: p('UPDATE gateways SET heartbeat = ?, heartbeat_at_ms = ?, last_seen_ms = ? WHERE id = ? RETURNING contiguous_seq AS c, highest_seq AS h'),
    };
  }

  static async open(options: SqliteStorageOptions): Promise<SqliteStorage> {
    let db: Db;
    try {
      db = new Database(options.path);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      db.pragma('foreign_keys = ON');
    } catch (e) {
      storageError(e, `open ${options.path}`);
    }
    try {
      migrate(db, options.path);
      return new SqliteStorage(db);
    } catch (e) {
      db.close();
      if (e instanceof CloudError) throw e;
      storageError(e, 'migrate');
    }
  }

  private write<R>(op: string, fn: () => R): R {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      storageError(e, op);
    }
  }

  private read<R>(op: string, fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      storageError(e, op);
    }
  }

  async addGateway(name: string, tokenHash: string, nowMs: number): Promise<void> {
    this.write('addGateway', () => {
      if (this.s.gatewayByName.get(name) !== undefined) throw new CloudError('E_EXISTS', `gateway ${name} exists already`);
      const { lastInsertRowid } = this.db.prepare('INSERT INTO gateways (name, created_at_ms) VALUES (?, ?)').run(name, nowMs);
      this.db.prepare(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES (?, 'gateway', ?, ?, ?)`)
        .run(tokenHash, name, Number(lastInsertRowid), nowMs);
    });
  }

  async addGatewayToken(name: string, tokenHash: string, nowMs: number): Promise<void> {
    this.write('addGatewayToken', () => {
      const g = this.s.gatewayByName.get(name) as GatewayDbRow | undefined;
      if (g === undefined) throw new CloudError('E_NO_SUCH_GATEWAY', `no gateway named ${name}`);
      this.db.prepare(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES (?, 'gateway', ?, ?, ?)`)
        .run(tokenHash, name, g.id, nowMs);
    });
  }

  async addReader(name: string, tokenHash: string, nowMs: number): Promise<void> {
    this.write('addReader', () => {
      if (this.db.prepare(`SELECT 1 FROM credentials WHERE role = 'reader' AND name = ?`).get(name) !== undefined) {
        throw new CloudError('E_EXISTS', `reader ${name} exists already`);
      }
      this.db.prepare(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES (?, 'reader', ?, NULL, ?)`).run(tokenHash, name, nowMs);
    });
  }

  async authenticate(tokenHash: string): Promise<Principal | null> {
    const r = this.read('authenticate', () => this.s.authenticate.get(tokenHash)) as
      { role: string; name: string; gatewayId: number | null; gateway: string | null } | undefined;
    if (r === undefined) return null;
    if (r.role === 'gateway' && r.gatewayId !== null && r.gateway !== null) return { role: 'gateway', gatewayId: r.gatewayId, gateway: r.gateway };
    if (r.role === 'reader') return { role: 'reader', name: r.name };
    return null;
  }

  async ingest(gatewayId: number, batch: IngestBatch, nowMs: number): Promise<IngestResult> {
    return this.write('ingest', () => {
      const g = this.s.gatewayLock.get(gatewayId) as { c: number; h: number } | undefined;
      if (g === undefined) throw new CloudError('E_NO_SUCH_GATEWAY', `gateway id ${gatewayId} does not exist`);
      const plan = planIngest(batch, g.c);
      let stored = 0;
      const storedByKind: Record<string, number> = {};
      for (const r of plan.insert) {
        const n = this.s.insertRecord.run(gatewayId, r.seq, r.kind, r.priority, r.series, r.tStart, r.tEnd, r.replayed ? 1 : 0, nowMs,
          r.pipeline, r.deviceId, r.metric, r.payload).changes;
        stored += n;
        if (n > 0) storedByKind[r.kind] = (storedByKind[r.kind] ?? 0) + n;
      }
      for (const [from, to] of plan.skips) this.s.insertSkip.run(gatewayId, from, to, nowMs);
      let contiguous = plan.floor;
      for (;;) {
        const seqs = (this.s.walk.all(gatewayId, contiguous) as { seq: number }[]).map((x) => x.seq);
        const w = walkContiguous(contiguous, seqs);
        contiguous = w.contiguous;
        if (!w.exhausted || seqs.length < WALK_PAGE) break;
      }
      const highest = Math.max(g.h, plan.highestCandidate, contiguous);
      this.s.updateSeqs.run(contiguous, highest, nowMs, gatewayId);
      return {
        contiguousSeq: contiguous,
        highestSeq: highest,
        stored,
        storedByKind,
        duplicates: plan.duplicatesBelow + (plan.insert.length - stored),
        tombstoned: plan.tombstoned,
      };
    });
  }

  async heartbeat(gatewayId: number, body: HeartbeatBody, nowMs: number): Promise<SyncState> {
    const r = this.write('heartbeat', () => this.s.heartbeat.get(JSON.stringify(body), nowMs, nowMs, gatewayId)) as { c: number; h: number } | undefined;
    if (r === undefined) throw new CloudError('E_NO_SUCH_GATEWAY', `gateway id ${gatewayId} does not exist`);
    return { contiguousSeq: r.c, highestSeq: r.h };
  }

  async putCheckpoint(gatewayId: number, meta: SnapshotMeta, body: Uint8Array, nowMs: number): Promise<boolean> {
    return this.write('putCheckpoint', () => {
      const latest = (this.s.latestCheckpointId.get(gatewayId) as { m: number | null }).m;
      if (latest !== null && meta.checkpointId <= latest) return false;
      this.s.insertCheckpoint.run(gatewayId, meta.checkpointId, meta.consumedOffset, meta.committedAtMs, meta.nextSeq, meta.stateRows,
        body.byteLength, nowMs, body);
      this.s.pruneCheckpoints.run(gatewayId, gatewayId);
      return true;
    });
  }

  async latestCheckpoint(gateway: string): Promise<StoredSnapshot | null> {
    return this.read('latestCheckpoint', () => {
      const g = this.s.gatewayByName.get(gateway) as GatewayDbRow | undefined;
      if (g === undefined) return null;
      const r = this.db.prepare(`SELECT ${CHECKPOINT_COLUMNS}, body FROM checkpoints WHERE gateway_id = ? ORDER BY checkpoint_id DESC LIMIT 1`)
        .get(g.id) as (CheckpointDbRow & { body: Uint8Array }) | undefined;
      if (r === undefined) return null;
      const { body, ...meta } = r;
      return { meta, body };
    });
  }

  async seqStatus(gateway: string, seq: number): Promise<SeqStatus | null> {
    return this.read('seqStatus', () => {
      const g = this.s.gatewayByName.get(gateway) as GatewayDbRow | undefined;
      if (g === undefined) return null;
      const r = this.s.recordAt.get(g.id, seq) as { kind: string; priority: number; receivedAtMs: number; replayed: number } | undefined;
      if (r !== undefined) {
        return { gateway, seq, state: 'stored', contiguousSeq: g.contiguousSeq, record: { ...r, replayed: r.replayed === 1 } };
      }
      const skip = this.s.skipAt.get(g.id, seq) as { t: number } | undefined;
      return { gateway, seq, state: skip !== undefined && skip.t >= seq ? 'dropped' : 'missing', contiguousSeq: g.contiguousSeq, record: null };
    });
  }

  async gateways(name?: string): Promise<GatewayRow[]> {
    return this.read('gateways', () => {
      const rows = (name === undefined
        ? this.db.prepare(`SELECT ${GATEWAY_COLUMNS} FROM gateways ORDER BY name`).all()
        : this.db.prepare(`SELECT ${GATEWAY_COLUMNS} FROM gateways WHERE name = ?`).all(name)) as GatewayDbRow[];
      return rows.map((g) => ({
        id: g.id, name: g.name, createdAtMs: g.createdAtMs, contiguousSeq: g.contiguousSeq, highestSeq: g.highestSeq, lastSeenMs: g.lastSeenMs,
        heartbeat: g.heartbeat === null ? null : (JSON.parse(g.heartbeat) as HeartbeatBody),
        heartbeatAtMs: g.heartbeatAtMs,
        latestCheckpoint: (this.s.latestCheckpoint.get(g.id) as CheckpointDbRow | undefined) ?? null,
      }));
    });
  }

  async queryRecords(q: RecordQuery): Promise<StoredRecord[]> {
    const where = ['r.kind = ?', 'r.t_end > ?', 'r.t_start < ?'];
    const args: unknown[] = [q.kind, q.from, q.to];
    if (q.gateway !== undefined) (where.push('g.name = ?'), args.push(q.gateway));
    if (q.deviceId !== undefined) (where.push('r.device_id = ?'), args.push(q.deviceId));
    if (q.metric !== undefined) (where.push('r.metric = ?'), args.push(q.metric));
    if (q.pipeline !== undefined) (where.push('r.pipeline = ?'), args.push(q.pipeline));
    args.push(q.limit);
    return this.read('queryRecords', () => {
      const rows = this.db.prepare(`SELECT ${RECORD_COLUMNS} FROM records r JOIN gateways g ON g.id = r.gateway_id
        WHERE ${where.join(' AND ')} ORDER BY r.gateway_id, r.seq LIMIT ?`).all(...args) as (Omit<StoredRecord, 'replayed'> & { replayed: number })[];
      return rows.map((r) => ({ ...r, replayed: r.replayed === 1 }));
    });
  }

  async counts(): Promise<StorageCounts> {
    return this.read('counts', () => {
      const n = (table: string): number => (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      const gs = this.db.prepare(`SELECT ${GATEWAY_COLUMNS} FROM gateways ORDER BY name`).all() as GatewayDbRow[];
      return {
        gateways: gs.length, credentials: n('credentials'), records: n('records'), skips: n('skips'), checkpoints: n('checkpoints'),
        gatewayState: gs.map((g) => `${g.name}:${g.contiguousSeq}:${g.highestSeq}:${g.lastSeenMs}:${g.heartbeatAtMs}`),
      };
    });
  }

  async ping(): Promise<void> {
    // A real read of a table (not `SELECT 1`, which needs no file): fails once the handle is closed or the file is unreadable.
    this.read('ping', () => this.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Db, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value ANY) STRICT, WITHOUT ROWID');
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number } | undefined;
  const found = row === undefined ? 0 : Number(row.value);
  if (found > SCHEMA_VERSION) {
    throw new CloudError('E_STORAGE_SCHEMA_NEWER', `${path} has schema version ${found}; this build knows up to ${SCHEMA_VERSION}. Nothing was changed.`);
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!.sqlite);
      db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(v + 1);
    }).immediate();
  }
}
