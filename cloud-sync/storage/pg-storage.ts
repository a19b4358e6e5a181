import pg from 'pg';
import { WireError, type HeartbeatBody } from '../protocol.ts';
import { CloudError } from '../errors.ts';
import { CHECKPOINTS_KEPT, MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import { planIngest, walkContiguous, WALK_PAGE } from './ingest-plan.ts';
import { COPY_RECORDS, copyIn, encodeCopy } from './pg-copy.ts';
import type {
  CloudStorage, GatewayRow, IngestBatch, IngestResult, Principal, RecordQuery, SeqStatus, SnapshotMeta, StorageCounts,
  StoredRecord, StoredSnapshot, SyncState,
} from './storage-types.ts';

/**
 * CloudStorage on PostgreSQL (package `pg`): THE module of cloud-sync that
 * talks to PostgreSQL. Any number of service instances may share one
 * database: a batch is ingested in one transaction that first takes its
 * gateway's row lock (SELECT ... FOR UPDATE), so concurrent copies of the
 * same batch are serialized and the second one finds every seq stored;
 * (gateway_id, seq) is the primary key besides. Under that lock the seqs
 * already stored are known, so the new records go in with one binary COPY
 * per batch (pg-copy.ts).
 *
 * Migrations run at open under a transaction-scoped advisory lock, so
 * instances starting together migrate once. `schema` puts every table in
 * that schema (search_path), for tests that must not collide.
 */
export interface PgStorageOptions {
  readonly connectionString: string;
  /** Existing schema to use (default: the server's search_path, normally public). */
  readonly schema?: string;
  readonly maxConnections?: number;
}

type Client = pg.PoolClient;

// BIGINT (20) as number: every bigint here is a seq, offset or ms time, all below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const GATEWAY_COLUMNS = `id, name, created_at_ms AS "createdAtMs", contiguous_seq AS "contiguousSeq", highest_seq AS "highestSeq",
  last_seen_ms AS "lastSeenMs", heartbeat, heartbeat_at_ms AS "heartbeatAtMs"`;
const CHECKPOINT_COLUMNS = `checkpoint_id AS "checkpointId", consumed_offset AS "consumedOffset", committed_at_ms AS "committedAtMs",
  next_seq AS "nextSeq", state_rows AS "stateRows", bytes, received_at_ms AS "receivedAtMs"`;
const RECORD_COLUMNS = `g.name AS gateway, r.seq, r.kind, r.priority, r.series, r.t_start AS "tStart", r.t_end AS "tEnd", r.replayed,
  r.received_at_ms AS "receivedAtMs", r.pipeline, r.device_id AS "deviceId", r.metric, r.payload`;

interface GatewayDbRow {
  id: number; name: string; createdAtMs: number; contiguousSeq: number; highestSeq: number; lastSeenMs: number | null;
  heartbeat: string | null; heartbeatAtMs: number | null;
}

type CheckpointDbRow = SnapshotMeta & { receivedAtMs: number };

/** Connection-level failures (refused, reset, admin shutdown) are E_STORAGE (answered 503); others are bugs. */
function storageError(e: unknown, op: string): never {
  if (e instanceof CloudError || e instanceof WireError) throw e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (/^(08|53|57|58)/.test(code) || /^E[A-Z]+$/.test(code))) {
    throw new CloudError('E_STORAGE', `postgres ${op}: ${code}: ${(e as Error).message}`, { cause: e });
  }
  if (e instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(e.message)) {
    throw new CloudError('E_STORAGE', `postgres ${op}: ${e.message}`, { cause: e });
  }
  throw e;
}

export class PgStorage implements CloudStorage {
  readonly backend = 'postgres' as const;

  private constructor(private readonly pool: pg.Pool) {}

  static async open(options: PgStorageOptions): Promise<PgStorage> {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
      throw new CloudError('E_CONFIG', `schema name ${JSON.stringify(options.schema)} must be a plain lower-case identifier`);
    }
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      types,
      ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
    });
    pool.on('error', () => undefined); // an idle client's connection died; the next query reports it
    const storage = new PgStorage(pool);
    try {
      await storage.tx('migrate', (c) => migrate(c));
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
    return storage;
  }

  private async tx<R>(op: string, fn: (c: Client) => Promise<R>): Promise<R> {
    let client: Client;
    try {
      client = await this.pool.connect();
    } catch (e) {
      storageError(e, op);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const r = await fn(client);
      await client.query('COMMIT');
      return r;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      storageError(e, op);
    } finally {
      client.release(broken);
    }
  }

  private async q<R>(op: string, text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query(text, values)).rows as R[];
    } catch (e) {
      storageError(e, op);
    }
  }

  async addGateway(name: string, tokenHash: string, nowMs: number): Promise<void> {
    await this.tx('addGateway', async (c) => {
      const ins = await c.query('INSERT INTO gateways (name, created_at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id', [name, nowMs]);
      if (ins.rowCount === 0) throw new CloudError('E_EXISTS', `gateway ${name} exists already`);
      await c.query(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES ($1, 'gateway', $2, $3, $4)`,
        [tokenHash, name, (ins.rows[0] as { id: number }).id, nowMs]);
    });
  }

  async addGatewayToken(name: string, tokenHash: string, nowMs: number): Promise<void> {
    await this.tx('addGatewayToken', async (c) => {
      const g = await c.query('SELECT id FROM gateways WHERE name = $1', [name]);
      if (g.rowCount === 0) throw new CloudError('E_NO_SUCH_GATEWAY', `no gateway named ${name}`);
      await c.query(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES ($1, 'gateway', $2, $3, $4)`,
        [tokenHash, name, (g.rows[0] as { id: number }).id, nowMs]);
    });
  }

  async addReader(name: string, tokenHash: string, nowMs: number): Promise<void> {
    await this.tx('addReader', async (c) => {
      const r = await c.query(`INSERT INTO credentials (token_hash, role, name, gateway_id, created_at_ms) VALUES ($1, 'reader', $2, NULL, $3)
        ON CONFLICT DO NOTHING`, [tokenHash, name, nowMs]);
      if (r.rowCount === 0) throw new CloudError('E_EXISTS', `reader ${name} exists already`);
    });
  }

  async authenticate(tokenHash: string): Promise<Principal | null> {
    const rows = await this.q<{ role: string; name: string; gatewayId: number | null; gateway: string | null }>('authenticate',
      `SELECT c.role, c.name, c.gateway_id AS "gatewayId", g.name AS gateway FROM credentials c LEFT JOIN gateways g ON g.id = c.gateway_id
       WHERE c.token_hash = $1`, [tokenHash]);
    const r = rows[0];
    if (r === undefined) return null;
    if (r.role === 'gateway' && r.gatewayId !== null && r.gateway !== null) return { role: 'gateway', gatewayId: r.gatewayId, gateway: r.gateway };
    if (r.role === 'reader') return { role: 'reader', name: r.name };
    return null;
  }

  async ingest(gatewayId: number, batch: IngestBatch, nowMs: number): Promise<IngestResult> {
    return this.tx('ingest', async (c) => {
      const g = (await c.query({ name: 'weir-lock', text: 'SELECT contiguous_seq AS c, highest_seq AS h FROM gateways WHERE id = $1 FOR UPDATE', values: [gatewayId] }))
        .rows[0] as { c: number; h: number } | undefined;
      if (g === undefined) throw new CloudError('E_NO_SUCH_GATEWAY', `gateway id ${gatewayId} does not exist`);
      const plan = planIngest(batch, g.c);
      // Records above contiguous exist only when the live lane ran ahead (and then highest > contiguous): those are
      // duplicates. Nearly always there are none, and every record planned is new without a query.
      let insert = plan.insert;
      if (g.h > g.c && insert.length > 0) {
        const top = insert[insert.length - 1]!.seq;
        const present = new Set((await c.query({ name: 'weir-present', text: 'SELECT seq FROM records WHERE gateway_id = $1 AND seq > $2 AND seq <= $3', values: [gatewayId, g.c, top] }))
          .rows.map((x: { seq: number }) => x.seq));
        insert = insert.filter((r) => !present.has(r.seq));
      }
      const stored = insert.length > 0 ? await copyIn(c, COPY_RECORDS, encodeCopy(gatewayId, nowMs, insert)) : 0;
      const storedByKind: Record<string, number> = {};
      for (const r of insert) storedByKind[r.kind] = (storedByKind[r.kind] ?? 0) + 1;
      if (plan.skips.length > 0) {
        await c.query(`INSERT INTO skips (gateway_id, from_seq, to_seq, received_at_ms)
          SELECT $1, f, t, $2 FROM unnest($3::int8[], $4::int8[]) AS u(f, t) ON CONFLICT DO NOTHING`,
        [gatewayId, nowMs, plan.skips.map((s) => s[0]), plan.skips.map((s) => s[1])]);
      }
      let contiguous = plan.floor;
      for (;;) {
        const seqs = (await c.query({ name: 'weir-walk', text: `SELECT seq FROM records WHERE gateway_id = $1 AND seq > $2 ORDER BY seq LIMIT ${WALK_PAGE}`, values: [gatewayId, contiguous] }))
          .rows.map((x: { seq: number }) => x.seq);
        const w = walkContiguous(contiguous, seqs);
        contiguous = w.contiguous;
        if (!w.exhausted || seqs.length < WALK_PAGE) break;
      }
      const highest = Math.max(g.h, plan.highestCandidate, contiguous);
      await c.query({ name: 'weir-update-seqs', text: 'UPDATE gateways SET contiguous_seq = $1, highest_seq = $2, last_seen_ms = $3 WHERE id = $4', values: [contiguous, highest, nowMs, gatewayId] });
      return { contiguousSeq: contiguous, highestSeq: highest, stored, storedByKind, duplicates: plan.duplicatesBelow + (plan.insert.length - stored), tombstoned: plan.tombstoned };
    });
  }

  async heartbeat(gatewayId: number, body: HeartbeatBody, nowMs: number): Promise<SyncState> {
    const rows = await this.q<{ c: number; h: number }>('heartbeat',
      'UPDATE gateways SET heartbeat = $1, heartbeat_at_ms = $2, last_seen_ms = $2 WHERE id = $3 RETURNING contiguous_seq AS c, highest_seq AS h',
      [JSON.stringify(body), nowMs, gatewayId]);
    if (rows[0] === undefined) throw new CloudError('E_NO_SUCH_GATEWAY', `gateway id ${gatewayId} does not exist`);
    return { contiguousSeq: rows[0].c, highestSeq: rows[0].h };
  }

  async putCheckpoint(gatewayId: number, meta: SnapshotMeta, body: Uint8Array, nowMs: number): Promise<boolean> {
    return this.tx('putCheckpoint', async (c) => {
      await c.query('SELECT 1 FROM gateways WHERE id = $1 FOR UPDATE', [gatewayId]);
      const latest = (await c.query('SELECT MAX(checkpoint_id) AS m FROM checkpoints WHERE gateway_id = $1', [gatewayId])).rows[0] as { m: number | null };
      if (latest.m !== null && meta.checkpointId <= latest.m) return false;
      await c.query(`INSERT INTO checkpoints (gateway_id, checkpoint_id, consumed_offset, committed_at_ms, next_seq, state_rows, bytes, received_at_ms, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [gatewayId, meta.checkpointId, meta.consumedOffset, meta.committedAtMs, meta.nextSeq, meta.stateRows, body.byteLength, nowMs, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
      await c.query(`DELETE FROM checkpoints WHERE gateway_id = $1 AND checkpoint_id NOT IN
        (SELECT checkpoint_id FROM checkpoints WHERE gateway_id = $1 ORDER BY checkpoint_id DESC LIMIT ${CHECKPOINTS_KEPT})`, [gatewayId]);
      return true;
    });
  }

  async latestCheckpoint(gateway: string): Promise<StoredSnapshot | null> {
    const rows = await this.q<CheckpointDbRow & { body: Uint8Array }>('latestCheckpoint',
      `SELECT ${CHECKPOINT_COLUMNS}, body FROM checkpoints WHERE gateway_id = (SELECT id FROM gateways WHERE name = $1)
       ORDER BY checkpoint_id DESC LIMIT 1`, [gateway]);
    if (rows[0] === undefined) return null;
    const { body, ...meta } = rows[0];
    return { meta, body };
  }

  async seqStatus(gateway: string, seq: number): Promise<SeqStatus | null> {
    const g = (await this.q<GatewayDbRow>('seqStatus', `SELECT ${GATEWAY_COLUMNS} FROM gateways WHERE name = $1`, [gateway]))[0];
    if (g === undefined) return null;
    const r = (await this.q<{ kind: string; priority: number; receivedAtMs: number; replayed: boolean }>('seqStatus',
      'SELECT kind, priority, received_at_ms AS "receivedAtMs", replayed FROM records WHERE gateway_id = $1 AND seq = $2', [g.id, seq]))[0];
    if (r !== undefined) return { gateway, seq, state: 'stored', contiguousSeq: g.contiguousSeq, record: r };
    const skip = (await this.q<{ t: number }>('seqStatus',
      'SELECT to_seq AS t FROM skips WHERE gateway_id = $1 AND from_seq <= $2 ORDER BY from_seq DESC LIMIT 1', [g.id, seq]))[0];
    return { gateway, seq, state: skip !== undefined && skip.t >= seq ? 'dropped' : 'missing', contiguousSeq: g.contiguousSeq, record: null };
  }

  async gateways(name?: string): Promise<GatewayRow[]> {
    const gs = name === undefined
      ? await this.q<GatewayDbRow>('gateways', `SELECT ${GATEWAY_COLUMNS} FROM gateways ORDER BY name`)
      : await this.q<GatewayDbRow>('gateways', `SELECT ${GATEWAY_COLUMNS} FROM gateways WHERE name = $1`, [name]);
    const cps = await this.q<CheckpointDbRow & { gatewayId: number }>('gateways',
      `SELECT DISTINCT ON (gateway_id) gateway_id AS "gatewayId", ${CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY gateway_id, checkpoint_id DESC`);
    const byGateway = new Map(cps.map(({ gatewayId, ...m }) => [gatewayId, m]));
    return gs.map((g) => ({
      id: g.id, name: g.name, createdAtMs: g.createdAtMs, contiguousSeq: g.contiguousSeq, highestSeq: g.highestSeq, lastSeenMs: g.lastSeenMs,
      heartbeat: g.heartbeat === null ? null : (JSON.parse(g.heartbeat) as HeartbeatBody),
      heartbeatAtMs: g.heartbeatAtMs,
      latestCheckpoint: byGateway.get(g.id) ?? null,
    }));
  }

  async queryRecords(q: RecordQuery): Promise<StoredRecord[]> {
    const args: unknown[] = [q.kind, q.from, q.to];
    const where = ['r.kind = $1', 'r.t_end > $2', 'r.t_start < $3'];
    const add = (sql: string, v: unknown): void => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (q.gateway !== undefined) add('g.name = ?', q.gateway);
    if (q.deviceId !== undefined) add('r.device_id = ?', q.deviceId);
    if (q.metric !== undefined) add('r.metric = ?', q.metric);
    if (q.pipeline !== undefined) add('r.pipeline = ?', q.pipeline);
    args.push(q.limit);
    return this.q<StoredRecord>('queryRecords', `SELECT ${RECORD_COLUMNS} FROM records r JOIN gateways g ON g.id = r.gateway_id
      WHERE ${where.join(' AND ')} ORDER BY r.gateway_id, r.seq LIMIT $${args.length}`, args);
  }

  async counts(): Promise<StorageCounts> {
    const n = async (table: string): Promise<number> => (await this.q<{ n: number }>('counts', `SELECT COUNT(*) AS n FROM ${table}`))[0]!.n;
    const gs = await this.q<GatewayDbRow>('counts', `SELECT ${GATEWAY_COLUMNS} FROM gateways ORDER BY name`);
    return {
      gateways: gs.length, credentials: await n('credentials'), records: await n('records'), skips: await n('skips'), checkpoints: await n('checkpoints'),
      gatewayState: gs.map((g) => `${g.name}:${g.contiguousSeq}:${g.highestSeq}:${g.lastSeenMs}:${g.heartbeatAtMs}`),
    };
  }

  async ping(): Promise<void> {
    await this.q('ping', `SELECT value FROM weir_meta WHERE key = 'schema_version'`);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

async function migrate(c: Client): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('weir-cloud-migrate:' || current_schema()))`);
  await c.query('CREATE TABLE IF NOT EXISTS weir_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)');
  const row = (await c.query(`SELECT value FROM weir_meta WHERE key = 'schema_version'`)).rows[0] as { value: number } | undefined;
  const found = row === undefined ? 0 : row.value;
  if (found > SCHEMA_VERSION) {
    throw new CloudError('E_STORAGE_SCHEMA_NEWER', `the database has schema version ${found}; this build knows up to ${SCHEMA_VERSION}. Nothing was changed.`);
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    await c.query(MIGRATIONS[v]!.postgres);
    await c.query(`INSERT INTO weir_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [v + 1]);
  }
}
