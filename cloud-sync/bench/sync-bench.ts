/**
 * `npm run bench:sync`: store-and-forward throughput, edge outbox → cloud store.
 *
 * What one record is: a 10 s tumbling-window result of one device × metric
 * with count, mean, min, max, stddev and p95 — what the sample pipeline
 * writes to the outbox (kind 'window', encodeWindowPayload via
 * toOutboxInput), ≈ 1 in 50 an anomaly instead.
 *
 * 1. records/s from a full outbox to the cloud store: an outbox of N rows
 *    (WorkerStateStore, as the runtime opens it), drained by the real Uplink
 *    over HTTP on 127.0.0.1 into `weir-cloud serve` running as its own
 *    process, until every row is acked and trimmed —
 *    for SQLite (synchronous FULL) and PostgreSQL (127.0.0.1, DATABASE_URL
 *    or postgres://postgres@127.0.0.1:5432/test).
 * 2. wire bytes per record: the batches as sent (CBOR + deflate) against the
 *    same batches as plain JSON with each payload as its JSON object.
 * 2b. the service alone: 4 gateways post pre-encoded batches concurrently
 *    (what the cloud and its database accept, without the edge's work).
 * 3. one hour of backlog after an outage, 500 devices at 1 reading/s:
 *    1,800,000 readings become 500 × 360 = 180,000 window rows (10 s
 *    windows, one metric per device); drained into PostgreSQL without a
 *    bandwidth cap. Also given: that hour's wire bytes, and the time they
 *    need on a 1 Mbit/s uplink.
 *
 * A benchmark spans both packages, like test/: it imports the edge uplink
 * (cloud-sync's shipped code never does). Flags: --quick (smaller N).
 * Final line: BENCH {json}.
 */
import { performance } from 'node:perf_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Decoder } from 'cbor-x';
import pg from 'pg';
import { LocalStateStore } from '../../edge-runtime/state/local-store.ts';
import { WorkerStateStore } from '../../edge-runtime/state/worker-store.ts';
import { toOutboxInput } from '../../edge-runtime/runtime/outbox-rows.ts';
import { Uplink } from '../../edge-runtime/uplink/uplink.ts';
import type { OutboxInput } from '../../edge-runtime/state/store-types.ts';
import { orderedBatch } from '../../edge-runtime/uplink/batch-builder.ts';
import { SqliteStorage } from '../storage/sqlite-storage.ts';
import { encodeBody, type BatchRequest } from '../protocol.ts';
import { tempDir } from '../test-support.ts';
import { seededRandom } from '../seeded-random.ts';

const QUICK = process.argv.includes('--quick');
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = QUICK ? 30_000 : 180_000;
const HOUR_ROWS = 500 * 360;
const T0 = Date.UTC(2026, 0, 1);
const METRICS = ['temperature', 'humidity', 'pressure'];
const BATCH = 5000;

function row(i: number): OutboxInput {
  const device = i % 500;
  const w = Math.floor(i / 500);
  if (i % 50 === 49) {
    return toOutboxInput({
      type: 'anomaly', pipeline: 'alarms', key: { deviceId: `dev-${device}`, metric: 'temperature' }, deviceId: `dev-${device}`, metric: 'temperature',
      eventTime: T0 + w * 10_000 + 4321, score: 0.93, detector: 'ewma-z', reason: 'z-score 4.2 above 3.5', expected: 21.5 + (i % 89) / 7, observed: 29.75,
    });
  }
  // Ten readings with two decimals, as a sensor reports them; the aggregates are full doubles (no easy compression).
  const r = rng(i + 1);
  const readings = Array.from({ length: 10 }, () => Math.round((18 + r() * 8) * 100) / 100);
  const mean = readings.reduce((a, b) => a + b, 0) / 10;
  const stddev = Math.sqrt(readings.reduce((a, b) => a + (b - mean) ** 2, 0) / 10);
  const sorted = [...readings].sort((a, b) => a - b);
  return toOutboxInput({
    type: 'window', pipeline: 'stats-10s', key: { deviceId: `dev-${device}`, metric: METRICS[device % 3]! },
    start: T0 + w * 10_000, end: T0 + w * 10_000 + 10_000, version: 1, count: 10,
    values: { count: 10, mean, min: sorted[0]!, max: sorted[9]!, stddev, p95: sorted[8]! + (sorted[9]! - sorted[8]!) * 0.51 },
  });
}

const rng = seededRandom;

/** Fills an outbox file; returns it opened as the runtime opens it: WorkerStateStore (SQLite on a worker thread). */
async function fillOutbox(path: string, n: number): Promise<WorkerStateStore> {
  const store = await LocalStateStore.open({ path, synchronous: 'NORMAL', outbox: { maxBytes: 1024 * 1024 * 1024 } });
  for (let done = 0, id = 1; done < n; id++) {
    const k = Math.min(10_000, n - done);
    const { lastOffset } = await store.appendSegment([{ type: 'tick', processingTime: T0 + id }], T0);
    await store.commitCheckpoint({ checkpointId: id, consumedOffset: lastOffset, stateUpserts: [], stateDeletes: [],
      outbox: Array.from({ length: k }, (_, j) => row(done + j)), nowMs: T0 });
    done += k;
  }
  await store.close();
  return WorkerStateStore.open({ path, synchronous: 'NORMAL', outbox: { maxBytes: 1024 * 1024 * 1024 } });
}

interface DrainResult { seconds: number; records: number; wireBytes: number; batches: number; sample: BatchRequest[] }

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'cloud-sync/cli.ts');

/** The cloud as a separate process (`weir-cloud serve`), as in production: the edge and the service do not share an event loop. */
async function startCloud(db: { sqlite: string } | { url: string }, gateways: readonly string[] = ['bench-gw']): Promise<{ url: string; token: string; tokens: string[]; stop: () => Promise<void> }> {
  const env = { ...process.env, DATABASE_URL: 'url' in db ? db.url : '' };
  const dbArgs = 'sqlite' in db ? ['--db', db.sqlite] : [];
  const tokens = gateways.map((g) => {
    const add = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'gateway', 'add', g, ...dbArgs], { cwd: ROOT, env, encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`gateway add failed: ${add.stderr}`);
    return add.stdout.trim();
  });
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0', '--log-level', 'warn', ...dbArgs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  const url = /listening on (\S+)/.exec(line)?.[1];
  if (url === undefined) throw new Error(`unexpected: ${line}`);
  return { url, token: tokens[0]!, tokens, stop: async () => {
    child.kill('SIGTERM');
    await once(child, 'exit');
  } };
}

/**
 * The cloud side alone: `gateways` gateways post batches already encoded
 * (one in flight each, as the uplink with maxInFlight 1), so the figure is
 * what the service and its database accept, without the edge's work.
 */
async function cloudIngest(db: { url: string }, gateways: number, perGateway: number): Promise<number> {
  const names = Array.from({ length: gateways }, (_, g) => `fleet-${g}`);
  const cloud = await startCloud(db, names);
  const bodies = names.map((name) => {
    const out: Uint8Array[] = [];
    for (let first = 1; first <= perGateway; first += BATCH) {
      const records = Array.from({ length: Math.min(BATCH, perGateway - first + 1) }, (_, j) => {
        const o = row(first + j - 1);
        return { seq: first + j, kind: o.kind, priority: o.priority, series: o.series, tStart: o.tStart, tEnd: o.tEnd, payload: o.payload, replayed: true };
      });
      out.push(encodeBody({ v: 1, gatewayId: name, lane: 'ordered', firstSeq: first, lastSeq: first + records.length - 1, skipped: [], records, sentAtMs: 0 }));
    }
    return out;
  });
  const t0 = performance.now();
  await Promise.all(names.map(async (_, g) => {
    for (const body of bodies[g]!) {
      const r = await fetch(`${cloud.url}/v1/batches`, { method: 'POST', body, headers: { authorization: `Bearer ${cloud.tokens[g]}`, 'content-type': 'application/cbor', 'content-encoding': 'deflate' } });
      if (r.status !== 200) throw new Error(`batch refused: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  await cloud.stop();
  return (gateways * perGateway) / seconds;
}

async function drain(db: { sqlite: string } | { url: string }, n: number, count: () => Promise<number>): Promise<DrainResult> {
  const tmp = tempDir();
  const cloud = await startCloud(db);
  const store = await fillOutbox(tmp.file('gw.db'), n);
  const uplink = new Uplink({
    store, cloud: { endpoint: cloud.url, gatewayId: 'bench-gw', token: cloud.token },
    batch: { maxRecords: BATCH, maxBytes: 4 * 1024 * 1024, maxAgeMs: 0 }, heartbeatIntervalMs: 0, snapshotIntervalMs: 0,
  });
  const sample: BatchRequest[] = [];
  uplink.onEvent((e) => {
    if (e.type === 'acked' && sample.length < 3) sample.push({ v: 1, gatewayId: 'bench-gw', lane: e.lane, firstSeq: e.firstSeq, lastSeq: e.lastSeq, skipped: [], records: [], sentAtMs: 0 });
  });
  const idle = uplink.waitFor((e) => e.type === 'idle' || e.type === 'fatal');
  const t0 = performance.now();
  uplink.start();
  const last = await idle;
  const seconds = (performance.now() - t0) / 1000;
  if (last.type === 'fatal') throw new Error(`uplink stopped: ${last.message}`);
  const st = await store.outboxStats(0);
  if (st.rows !== 0 || uplink.stats.contiguousSeq !== n) throw new Error(`drain incomplete: ${st.rows} rows left, contiguous ${uplink.stats.contiguousSeq}`);
  await uplink.stop();
  await cloud.stop();
  const stored = await count();
  if (stored !== n) throw new Error(`cloud holds ${stored} records, expected ${n}`);
  // The batches as sent, rebuilt from the outbox rows for the wire/JSON comparison.
  const again = await fillOutbox(tmp.file('again.db'), Math.min(n, 3 * BATCH));
  const rows = await again.readOutbox({ afterSeq: 0, limit: 3 * BATCH });
  for (const b of sample) Object.assign(b, orderedBatch('bench-gw', b.firstSeq - 1, rows.filter((r) => r.seq >= b.firstSeq && r.seq <= b.lastSeq), () => true, 0));
  await again.close();
  await store.close();
  tmp.cleanup();
  return { seconds, records: n, wireBytes: uplink.stats.wireBytes, batches: uplink.stats.batches, sample: sample.filter((b) => b.records.length > 0) };
}

const payloadDecoder = new Decoder({ mapsAsObjects: true, useRecords: false });

function jsonBytes(batches: BatchRequest[]): { json: number; wire: number; records: number } {
  let json = 0;
  let wire = 0;
  let records = 0;
  for (const b of batches) {
    wire += encodeBody(b).byteLength;
    json += Buffer.byteLength(JSON.stringify({ ...b, records: b.records.map((r) => ({ ...r, payload: payloadDecoder.decode(r.payload) as unknown })) }));
    records += b.records.length;
  }
  return { json: json / records, wire: wire / records, records };
}

async function withPg<T>(fn: (url: string, count: () => Promise<number>) => Promise<T>): Promise<T> {
  const schema = `weir_bench_${process.pid}_${Date.now() % 100000}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  try {
    return await fn(url, async () => Number((await admin.query(`SELECT COUNT(*) AS n FROM ${schema}.records`)).rows[0].n));
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

async function sqliteCount(path: string): Promise<number> {
  const s = await SqliteStorage.open({ path });
  try {
    return (await s.counts()).records;
  } finally {
    await s.close();
  }
}

const tmp = tempDir();
const log = (s: string): void => void process.stdout.write(s + '\n');
log(`sync bench: ${N.toLocaleString()} outbox rows per run${QUICK ? ' (quick)' : ''}; PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//…@')}`);

const sq = await drain({ sqlite: tmp.file('cloud.db') }, N, () => sqliteCount(tmp.file('cloud.db')));
log(`SQLite:     ${Math.round(N / sq.seconds).toLocaleString()} records/s (${sq.seconds.toFixed(2)} s, ${sq.batches} batches)`);
const pgr = await withPg((url, count) => drain({ url }, N, count));
log(`PostgreSQL: ${Math.round(N / pgr.seconds).toLocaleString()} records/s (${pgr.seconds.toFixed(2)} s, ${pgr.batches} batches)`);
const wire = jsonBytes(pgr.sample);
const wirePerRecord = pgr.wireBytes / pgr.records;
log(`wire: ${wirePerRecord.toFixed(1)} B/record CBOR+deflate vs ${wire.json.toFixed(1)} B/record JSON (${((100 * wirePerRecord) / wire.json).toFixed(1)} %)`);
const hour = N === HOUR_ROWS ? pgr : await withPg((url, count) => drain({ url }, HOUR_ROWS, count));
const hourWireMB = hour.wireBytes / 1e6;
log(`one hour of backlog (500 devices × 1 reading/s → ${HOUR_ROWS.toLocaleString()} 10 s window rows): drained in ${hour.seconds.toFixed(2)} s into PostgreSQL; ` +
  `${hourWireMB.toFixed(2)} MB on the wire = ${((hour.wireBytes * 8) / 1e6).toFixed(0)} s at 1 Mbit/s`);
const FLEET = 4;
const ingest = await withPg((url) => cloudIngest({ url }, FLEET, N / FLEET));
log(`PostgreSQL, the service alone: ${Math.round(ingest).toLocaleString()} records/s from ${FLEET} gateways posting pre-encoded batches`);
tmp.cleanup();

log('BENCH ' + JSON.stringify({
  records: N,
  sqliteRecordsPerSec: Math.round(N / sq.seconds),
  pgRecordsPerSec: Math.round(N / pgr.seconds),
  pgServiceRecordsPerSec: Math.round(ingest),
  serviceGateways: FLEET,
  wireBytesPerRecord: Number(wirePerRecord.toFixed(1)),
  jsonBytesPerRecord: Number(wire.json.toFixed(1)),
  wireToJsonRatio: Number((wirePerRecord / wire.json).toFixed(3)),
  drainSeconds: Number(hour.seconds.toFixed(2)),
  drainRecords: HOUR_ROWS,
  drainReadings: 500 * 3600,
  drainWireMB: Number(hourWireMB.toFixed(2)),
  drainSecondsAt1Mbps: Math.round((hour.wireBytes * 8) / 1e6),
  batchRecords: BATCH,
}));
