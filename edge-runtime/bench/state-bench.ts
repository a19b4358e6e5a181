/**
 * npm run bench:state [-- --readings N --fullReadings N --rounds R --loopSeconds S --rate R]
 *   [--spillKeys N --spillBudgetMb M --spillCheckpointMaxRows R] [--spillOnly 1: the spill run alone]
 *
 * The storage layer's figures, through the same path the runtime uses
 * (GroupCommitLog → WorkerStateStore → storage worker → SQLite, WAL):
 *
 *  logAppendsPerSecNormal / logAppendsPerSecFull
 *      readings/s whose append resolved (= durable at that setting), group
 *      commit of 1,000 readings, readings of ~60 B of fields (≈108 B as JSON).
 *  checkpointMs10k        median time of one checkpoint transaction writing
 *      10,000 dirty keys of 200 B, in process (synchronous NORMAL), into a
 *      state table of 10,000 keys (every key dirty, as FIELD-NOTES measured);
 *      checkpointMs10kOf50k: the same 10,000 into a table of 50,000 keys
 *      (every leaf page is rewritten: the cost grows with the table).
 *      checkpointWorkerMs10k: 10,000 of 50,000 as the main thread sees it
 *      through the worker while ingesting (packing + transfer + commit).
 *  loopDelayP99Ms         p99 of perf_hooks.monitorEventLoopDelay on the main
 *      thread while readings arrive at --rate per second (default 150,000) in
 *      10 ms slices and a 10,000-key checkpoint runs every second, both
 *      through the worker.
 *  bytesWrittenPerReading bytes SQLite wrote per reading in the NORMAL run
 *      (WAL and the checkpoint into the main file included): write_bytes of
 *      /proc/self/io when the kernel reports it, else DB+WAL growth;
 *      bytesWrittenSource says which.
 *
 * Hook for the engine side: `runStateBench()` returns the figures; the
 * spill run (1,000,000 keys under a 32 MB budget) adds spillPeakRssMb and
 * prints the one BENCH line. Run directly, this file prints its own BENCH
 * line without spillPeakRssMb.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { SourceRecord } from '../engine/types.ts';
import { GroupCommitLog } from '../state/group-commit-log.ts';
import { WorkerStateStore } from '../state/worker-store.ts';
import { SqliteStore } from '../state/sqlite-store.ts';
import { encodeSegment } from '../state/segment-codec.ts';
import { WEIR_MALLOC_ENV } from './ingest/bench-procs.ts';
import type { Durability, StateRow, StateStore } from '../state/store-types.ts';
import { arg, benchLine, median, round } from './bench-util.ts';
import { spawnSync } from 'node:child_process';
import { bundleForNode } from './bundle.ts';

export interface StateBenchResult {
  logAppendsPerSecNormal: number;
  logAppendsPerSecFull: number;
  checkpointMs10k: number;
  checkpointMs10kOf50k: number;
  /** 10,000 contiguous `pane|key` rows in a 50,000-row table, with pane roll-over: what windows write. */
  checkpointMs10kEngineShaped: number;
  checkpointWorkerMs10k: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  loopRateAchieved: number;
  bytesWrittenPerReading: number;
  bytesWrittenSource: 'proc-io-write_bytes' | 'db-wal-growth';
  segmentBytesPerReading: number;
  jsonBytesPerReading: number;
}

const METRICS = ['temperature', 'humidity', 'pressure'];

function readings(n: number, seed: number): SourceRecord[] {
  let s = seed >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const out: SourceRecord[] = new Array(n);
  let t = Date.UTC(2026, 0, 1);
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) t++;
    out[i] = { type: 'reading', reading: { deviceId: `d${(i * 7919) % 500}`, metric: METRICS[i % 3]!, value: Math.round(rnd() * 10000) / 100, eventTime: t - (i % 17), arrivalTime: t } };
  }
  return out;
}

function procWriteBytes(): number | null {
  try {
    const m = /^write_bytes:\s+(\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function fileSize(f: string): number {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

function dirty(n: number, round: number, keyspace = 50_000): StateRow[] {
  const value = new Uint8Array(200).fill(round & 255);
  const rows: StateRow[] = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = { ns: 'window.tumbling', key: `dev-${(i * 7919 + round * 10_007) % keyspace}|temperature`, value };
  return rows;
}

/** Appends `n` readings as fast as backpressure allows; resolves with readings/s durable. */
async function pumpLog(store: StateStore, pool: readonly SourceRecord[], n: number): Promise<number> {
  const log = new GroupCommitLog(store, { maxBatchRecords: 1000, maxDelayMs: 5, maxPendingRecords: 20_000, maxInFlightBatches: 2 });
  let failed = 0;
  const onErr = (): void => {
    failed++;
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (!log.writable) await log.drained();
    log.append(pool[i % pool.length]!).catch(onErr);
  }
  await log.flush();
  const s = (performance.now() - t0) / 1000;
  if (failed > 0) throw new Error(`${failed} appends failed`);
  return n / s;
}

async function logRun(dir: string, sync: Durability, pool: readonly SourceRecord[], n: number, run: number): Promise<{ perSec: number; written: number; source: StateBenchResult['bytesWrittenSource'] }> {
  const file = path.join(dir, `log-${sync}-${run}.db`);
  const store = await WorkerStateStore.open({ path: file, synchronous: sync });
  const io0 = procWriteBytes();
  const perSec = await pumpLog(store, pool, n);
  await store.close(); // checkpoints the WAL into the main file: part of what a reading costs
  const io1 = procWriteBytes();
  if (io0 !== null && io1 !== null && io1 > io0) return { perSec, written: io1 - io0, source: 'proc-io-write_bytes' };
  return { perSec, written: fileSize(file) + fileSize(`${file}-wal`), source: 'db-wal-growth' };
}

/** Median ms of one checkpoint transaction of 10,000 dirty keys in a state table of `keyspace` keys. */
function checkpointInProcess(dir: string, rounds: number, keyspace: number): number {
  const store = SqliteStore.open({ path: path.join(dir, `ck-${keyspace}.db`), synchronous: 'NORMAL', walMaintenance: 'manual' });
  // Fill the table first; not timed.
  const fill = Array.from({ length: keyspace }, (_, i) => ({ ns: 'window.tumbling', key: `dev-${i}|temperature`, value: new Uint8Array(200) }));
  store.commitCheckpoint({ checkpointId: 1, consumedOffset: 0, stateUpserts: fill, stateDeletes: [], outbox: [] });
  store.maintainWal(true);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const upserts = dirty(10_000, r + 7, keyspace);
    const t0 = performance.now();
    store.commitCheckpoint({ checkpointId: r + 2, consumedOffset: 0, stateUpserts: upserts, stateDeletes: [], outbox: [] });
    times.push(performance.now() - t0);
    store.maintainWal(true); // what the worker does when idle, between checkpoints
  }
  store.close();
  return median(times);
}

/**
 * Median ms of one checkpoint shaped like the time-window operator's: state keys are
 * `pane|key`, so the 10,000 keys a window dirties are contiguous in the table — here a
 * table of 50,000 (five panes of 10,000 keys); each round rewrites the newest pane's rows,
 * and every fifth round a new pane starts (10,000 inserts) and the oldest pane is
 * prefix-deleted, as when a window closes.
 */
function checkpointEngineShaped(dir: string, rounds: number): number {
  const store = SqliteStore.open({ path: path.join(dir, 'ck-engine.db'), synchronous: 'NORMAL', walMaintenance: 'manual' });
  const T = 1_767_225_600_000;
  const pane = (k: number, v: number): { ns: string; key: string; value: Uint8Array }[] =>
    Array.from({ length: 10_000 }, (_, i) => ({ ns: 'p/1', key: `${T + k * 10_000}|dev-${String(i).padStart(5, '0')}`, value: new Uint8Array(200).fill(v) }));
  store.commitCheckpoint({ checkpointId: 1, consumedOffset: 0, stateUpserts: [0, 1, 2, 3, 4].flatMap((k) => pane(k, 0)), stateDeletes: [], outbox: [] });
  store.maintainWal(true);
  const times: number[] = [];
  let newest = 4;
  for (let r = 0; r < rounds; r++) {
    const roll = r % 5 === 4;
    if (roll) newest++;
    const input = {
      checkpointId: r + 2, consumedOffset: 0, stateUpserts: pane(newest, r + 1), stateDeletes: [],
      stateDeletePrefixes: roll ? [{ ns: 'p/1', key: `${T + (newest - 5) * 10_000}|` }] : [], outbox: [],
    };
    const t0 = performance.now();
    store.commitCheckpoint(input);
    times.push(performance.now() - t0);
    store.maintainWal(true);
  }
  store.close();
  return median(times);
}

async function loopDelayRun(dir: string, pool: readonly SourceRecord[], seconds: number, rate: number): Promise<{ p99: number; max: number; achieved: number; ckMs: number }> {
  const store = await WorkerStateStore.open({ path: path.join(dir, 'loop.db'), synchronous: 'NORMAL' });
  await store.commitCheckpoint({ checkpointId: 1, consumedOffset: 0, stateUpserts: Array.from({ length: 5 }, (_, r) => dirty(10_000, r)).flat(), stateDeletes: [], outbox: [] });
  const log = new GroupCommitLog(store, { maxBatchRecords: 1000, maxDelayMs: 5, maxPendingRecords: 50_000 });
  let committedUpTo = 0;
  let appended = 0;
  let refused = 0;
  const onOk = (o: number): void => {
    if (o > committedUpTo) committedUpTo = o;
  };
  const h = monitorEventLoopDelay({ resolution: 1 });
  const ckTimes: number[] = [];
  let ckBusy = false;
  let ckId = 2;
  const slice = Math.round(rate / 100);
  h.enable();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const producer = setInterval(() => {
      // Catch up with the target rate (timers drift), at most two slices at a time.
      const due = Math.min(2 * slice, Math.round(((performance.now() - t0) / 1000) * rate) - appended - refused);
      for (let i = 0; i < due; i++) {
        if (!log.writable) {
          refused++;
          continue;
        }
        log.append(pool[appended % pool.length]!).then(onOk, () => undefined);
        appended++;
      }
    }, 10);
    const checkpointer = setInterval(() => {
      if (ckBusy) return;
      ckBusy = true;
      const c0 = performance.now();
      store.commitCheckpoint({ checkpointId: ckId++, consumedOffset: committedUpTo, stateUpserts: dirty(10_000, ckId), stateDeletes: [], outbox: [] })
        .then(() => ckTimes.push(performance.now() - c0), () => undefined)
        .finally(() => (ckBusy = false));
    }, 1000);
    setTimeout(() => {
      clearInterval(producer);
      clearInterval(checkpointer);
      resolve();
    }, seconds * 1000);
  });
  const elapsed = (performance.now() - t0) / 1000;
  await log.flush();
  h.disable();
  await store.close();
  if (refused > 0) process.stderr.write(`loop-delay run: ${refused} appends refused by backpressure\n`);
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, achieved: appended / elapsed, ckMs: median(ckTimes) };
}

export async function runStateBench(opts: { readings?: number; fullReadings?: number; runs?: number; rounds?: number; loopSeconds?: number; rate?: number } = {}): Promise<StateBenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-bench-'));
  try {
    const pool = readings(200_000, 1);
    const seg = encodeSegment(pool.slice(0, 1000));
    const runs = opts.runs ?? 3;
    const normals: Awaited<ReturnType<typeof logRun>>[] = [];
    const fulls: number[] = [];
    for (let i = 0; i < runs; i++) {
      normals.push(await logRun(dir, 'NORMAL', pool, opts.readings ?? 600_000, i));
      fulls.push((await logRun(dir, 'FULL', pool, opts.fullReadings ?? 300_000, i)).perSec);
    }
    const normal = { perSec: median(normals.map((n) => n.perSec)), written: median(normals.map((n) => n.written)), source: normals[0]!.source };
    const ck = checkpointInProcess(dir, opts.rounds ?? 7, 10_000);
    const ck50 = checkpointInProcess(dir, opts.rounds ?? 7, 50_000);
    const ckEngine = checkpointEngineShaped(dir, Math.max(10, opts.rounds ?? 7));
    const loop = await loopDelayRun(dir, pool, opts.loopSeconds ?? 5, opts.rate ?? 150_000);
    return {
      logAppendsPerSecNormal: round(normal.perSec),
      logAppendsPerSecFull: round(median(fulls)),
      checkpointMs10k: round(ck, 1),
      checkpointMs10kOf50k: round(ck50, 1),
      checkpointMs10kEngineShaped: round(ckEngine, 1),
      checkpointWorkerMs10k: round(loop.ckMs, 1),
      loopDelayP99Ms: round(loop.p99, 2),
      loopDelayMaxMs: round(loop.max, 2),
      loopRateAchieved: round(loop.achieved),
      bytesWrittenPerReading: round(normal.written / (opts.readings ?? 600_000), 1),
      bytesWrittenSource: normal.source,
      segmentBytesPerReading: round(seg.byteLength / 1000, 1),
      jsonBytesPerReading: round(pool.slice(0, 1000).reduce((n, r) => n + JSON.stringify(r.type === 'reading' ? r.reading : r).length, 0) / 1000, 1),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** VmRSS (MB) of a plain node process running `script`: what RSS is before weir holds anything. */
function nodeRssMb(script: string): number {
  const r = spawnSync(process.execPath, ['-e', `${script};process.stdout.write(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])`], { encoding: 'utf8', cwd: process.cwd() });
  return r.status === 0 ? round(Number(r.stdout) / 1024, 1) : NaN;
}

/**
 * The 1,000,000-key spill run, in its own process so that its RSS is its own — bundled and run
 * with plain node and a gateway's heap flags, as on a board (tsx alone would add ~40 MB). Old
 * space = the budget + 16 MB: checkpoints hold at most checkpointMaxRows encoded rows, so the heap
 * needs little beyond the state (80 MB were needed when a checkpoint held ~100,000 rows).
 */
async function runSpill(): Promise<Record<string, unknown>> {
  const budgetMb = arg('spillBudgetMb', 32);
  const args = ['--keys', String(arg('spillKeys', 1_000_000)), '--budgetMb', String(budgetMb)];
  const maxRows = arg('spillCheckpointMaxRows', -1);
  if (maxRows >= 0) args.push('--checkpointMaxRows', String(maxRows));
  const bundleDir = fs.mkdtempSync(path.join(fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url)), 'weir-spill-'));
  const bundle = path.join(bundleDir, 'spill-bench.mjs');
  await bundleForNode(fileURLToPath(new URL('./spill-bench.ts', import.meta.url)), bundle);
  // glibc malloc as weir's systemd unit sets it, MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=65536
  // (either =0 in the environment: glibc's default).
  const { MALLOC_ARENA_MAX: arenas = WEIR_MALLOC_ENV.MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_: mmap = WEIR_MALLOC_ENV.MALLOC_MMAP_THRESHOLD_, ...rest } = process.env;
  const env: NodeJS.ProcessEnv = { ...rest, ...(arenas === '0' ? {} : { MALLOC_ARENA_MAX: arenas }), ...(mmap === '0' ? {} : { MALLOC_MMAP_THRESHOLD_: mmap }) };
  const spill = spawnSync(process.execPath, ['--expose-gc', `--max-old-space-size=${budgetMb + 16}`, '--max-semi-space-size=1', bundle, ...args], { encoding: 'utf8', cwd: process.cwd(), env });
  fs.rmSync(bundleDir, { recursive: true, force: true });
  const line = spill.stdout.split('\n').find((l) => l.startsWith('BENCH '));
  if (spill.status !== 0 || line === undefined) throw new Error(`spill bench failed: ${spill.stderr}`);
  process.stdout.write(spill.stderr);
  // The floor under it, same machine, same moment: a bare node, and node with one SQLite database open.
  const floor = { nodeBareRssMb: nodeRssMb('0'), nodeWithSqliteRssMb: nodeRssMb("new (require('better-sqlite3'))(':memory:').exec('CREATE TABLE t (a)')") };
  process.stdout.write(`RSS floor: bare node ${floor.nodeBareRssMb} MB, node with better-sqlite3 open ${floor.nodeWithSqliteRssMb} MB\n`);
  return { ...(JSON.parse(line.slice(6)) as Record<string, unknown>), ...floor };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && arg('spillOnly', 0) === 1) {
  benchLine(await runSpill());
} else if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await runStateBench({
    readings: arg('readings', 600_000),
    fullReadings: arg('fullReadings', 300_000),
    runs: arg('runs', 3),
    rounds: arg('rounds', 7),
    loopSeconds: arg('loopSeconds', 5),
    rate: arg('rate', 150_000),
  });
  process.stdout.write(
    `durable appends/s: NORMAL ${r.logAppendsPerSecNormal}, FULL ${r.logAppendsPerSecFull} (goal ≥ 150,000 under NORMAL)\n` +
    `checkpoint of 10,000 dirty keys: ${r.checkpointMs10k} ms in process (table of 10,000 keys), ${r.checkpointMs10kOf50k} ms (table of 50,000, random keys), ${r.checkpointMs10kEngineShaped} ms (table of 50,000, window-shaped keys), ` +
    `${r.checkpointWorkerMs10k} ms through the worker while ingesting (table of 50,000) (goal ≤ 50 ms)\n` +
    `event-loop delay while appending ${r.loopRateAchieved}/s and checkpointing every second: p99 ${r.loopDelayP99Ms} ms, max ${r.loopDelayMaxMs} ms (goal p99 ≤ 10 ms)\n` +
    `bytes written per reading: ${r.bytesWrittenPerReading} (${r.bytesWrittenSource}); segment payload ${r.segmentBytesPerReading} B/reading vs JSON ${r.jsonBytesPerReading} B\n`,
  );
  benchLine({ ...r, ...(await runSpill()) });
}
