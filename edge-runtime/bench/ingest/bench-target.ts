/**
 * The process under test for the ingest benchmarks (a child of the bench, so
 * its RSS and CPU are its own). Listens on 127.0.0.1, prints `PORT <n>`, then
 * `STATS {json}` every 500 ms, and `FINAL {json}` when stdin closes (then exits).
 *
 *   node --import tsx bench-target.ts raw            bare aedes; an in-process subscriber only parses JSON
 *   node --import tsx bench-target.ts weir [--synchronous FULL|NORMAL] [--db FILE] [--checkpoint-ms 1000]
 *       weir end to end: embedded broker → decode → durable log (WorkerStateStore,
 *       group commit) → a 10 s tumbling mean per device and metric → checkpoint
 *       (state + consumed offset + outbox rows in one transaction) every second.
 *
 * Latency (weir): 1 in 64 accepted frames is sampled; its `ts` is the
 * publisher's wall clock at publish. `durable` = publish → its log append
 * resolved (what a QoS 1 PUBACK waits for); `committed` = publish → the
 * checkpoint whose consumed offset covers it committed (its effect on the
 * window state, and any outbox rows it closed, are in the database).
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { BUILTIN_PROFILES } from '../../../devices/index.ts';
import { Ingestor } from '../../ingest/ingestor.ts';
import { RecentReadings } from '../../ingest/recent-readings.ts';
import { DEFAULT_DEDUP_WINDOW } from '../../config/gateway-config.ts';
import { EmbeddedBroker } from '../../ingest/mqtt/embedded-broker.ts';
import { pipeline } from '../../pipeline/builder.ts';
import { GatewayRuntime } from '../../runtime/gateway-runtime.ts';
import { WorkerStateStore } from '../../state/worker-store.ts';
import { LocalStateStore } from '../../state/local-store.ts';
import type { Durability } from '../../state/store-types.ts';

const { values, positionals } = parseArgs({
  options: {
    synchronous: { type: 'string', default: 'FULL' },
    db: { type: 'string' },
    topic: { type: 'string', default: 'weir/+/telemetry' },
    'max-in-flight': { type: 'string' },
    'max-in-flight-per-connection': { type: 'string' },
    'batch': { type: 'string' },
    pending: { type: 'string' },
    /** Checkpoint interval, ms (default 1,000, as the gateway ships). */
    'checkpoint-ms': { type: 'string', default: '1000' },
    'checkpoint-max-rows': { type: 'string' },
    'local-store': { type: 'boolean' },
    /** SQLite page cache of the store, KiB (default: the store's). */
    'cache-kib': { type: 'string' },
    /** Readings remembered for de-duplication, as the gateway's ingest.dedupWindow (0 = off). */
    'dedup-window': { type: 'string', default: String(DEFAULT_DEDUP_WINDOW) },
    /** The storage worker entry when this file runs bundled (a .mjs beside it). */
    worker: { type: 'string' },
  },
  allowPositionals: true,
});
const mode = positionals[0];
const say = (s: string): boolean => process.stdout.write(s + '\n');

function rssMb(): Record<string, number> {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  const m = process.memoryUsage();
  const mb = (b: number): number => Math.round(b / 104857.6) / 10;
  return { rss: Math.round(kb('VmRSS') / 102.4) / 10, hwm: Math.round(kb('VmHWM') / 102.4) / 10, heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external) };
}

/** Sorted-sample percentiles. */
function pct(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

let stats: () => Record<string, unknown>;
let finish: () => Promise<Record<string, unknown>>;

if (mode === 'raw') {
  const broker = await Aedes.createBroker();
  let readings = 0;
  let messages = 0;
  // The raw ceiling's consumer: parse the JSON and count its metrics, nothing else.
  broker.subscribe(values.topic!, (packet, cb) => {
    const o = JSON.parse(packet.payload.toString()) as Record<string, unknown>;
    readings += Object.keys(o).length - 1; // every field but ts
    messages++;
    cb();
  }, () => {});
  const server = createServer({ noDelay: true }, broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  say(`PORT ${(server.address() as AddressInfo).port}`);
  stats = () => ({ readings, messages, ...rssMb() });
  finish = async () => stats();
} else if (mode === 'weir') {
  const dir = mkdtempSync(join(tmpdir(), 'weir-ingest-bench-'));
  const cache = values['cache-kib'] === undefined ? {} : { cacheSizeKiB: Number(values['cache-kib']) };
  const store = values['local-store'] === true ? await LocalStateStore.open({ path: values.db ?? join(dir, 'gw.db'), synchronous: values.synchronous as Durability, ...cache }) : await WorkerStateStore.open({
    path: values.db ?? join(dir, 'gw.db'),
    synchronous: values.synchronous as Durability,
    ...cache,
    ...(values.worker === undefined ? {} : { workerUrl: pathToFileURL(values.worker) }),
  });
  const plan = pipeline('mean-10s').watermark({ maxOutOfOrder: '2s' }).keyBy('deviceId', 'metric').tumbling('10s').aggregate('mean').build();
  const durable: number[] = [];
  const committed: number[] = [];
  let waiting: { offset: number; ts: number }[] = [];
  let cpOffset = 0;
  let runtime: GatewayRuntime | null = null;
  runtime = await GatewayRuntime.start({
    store,
    plans: [plan],
    checkpointIntervalMs: Number(values['checkpoint-ms']),
    ...(values['checkpoint-max-rows'] === undefined ? {} : { checkpointMaxRows: Number(values['checkpoint-max-rows']) }),
    tickIntervalMs: 1000,
    groupCommit: {
      ...(values.batch === undefined ? {} : { maxBatchRecords: Number(values.batch) }),
      ...(values.pending === undefined ? {} : { maxPendingRecords: Number(values.pending) }),
    },
    probe: (point) => {
      if (point === 'checkpoint-begin') cpOffset = runtime?.stats.processedOffset ?? 0;
      if (point === 'checkpoint-committed') {
        const now = Date.now();
        const keep: typeof waiting = [];
        for (const w of waiting) {
          if (w.offset <= cpOffset) committed.push(now - w.ts);
          else keep.push(w);
        }
        waiting = keep;
      }
    },
  });
  // As the gateway ships: de-duplication on with its default window (the table starts empty here: a fresh state).
  const dedupWindow = Number(values['dedup-window']);
  const ingestor = new Ingestor({ profiles: BUILTIN_PROFILES, log: runtime, quarantine: store, ...(dedupWindow > 0 ? { recent: new RecentReadings(dedupWindow) } : {}) });
  let n = 0;
  const broker = new EmbeddedBroker({
    ingestor,
    auth: 'anonymous',
    ...(values['max-in-flight'] === undefined ? {} : { maxInFlight: Number(values['max-in-flight']), maxInFlightPerConnection: Math.max(1, Math.floor(Number(values['max-in-flight']) / 4)) }),
    ...(values['max-in-flight-per-connection'] === undefined ? {} : { maxInFlightPerConnection: Number(values['max-in-flight-per-connection']) }),
    onOutcome: (frame, outcome) => {
      if (outcome.kind !== 'accepted' || (++n & 63) !== 0) return;
      const ts = (JSON.parse(Buffer.from(frame.payload).toString()) as { ts: number }).ts;
      durable.push(Date.now() - ts);
      waiting.push({ offset: outcome.lastOffset, ts });
    },
  });
  const ports = await broker.start({ port: 0 });
  say(`PORT ${ports.tcp}`);
  const rt = runtime;
  // The storage worker's own V8 heap (committed, MB): last sample and the largest seen.
  const worker = { heapMb: 0, heapPeakMb: 0 };
  const heapTimer = store instanceof WorkerStateStore
    ? setInterval(() => {
      store.workerHeap().then((h) => {
        worker.heapMb = Math.round(h.totalHeapSize / 104857.6) / 10;
        worker.heapPeakMb = Math.round(h.peakTotalHeapSize / 104857.6) / 10;
      }, () => {});
    }, 250)
    : null;
  stats = () => {
    const f = broker.flow.counters;
    return {
      readings: f.readings, frames: f.frames, quarantined: f.quarantined, processedOffset: rt.stats.processedOffset,
      checkpoints: rt.stats.checkpoints, lastCheckpointMs: Math.round(rt.stats.lastCheckpointMs), pauses: f.pauses, inFlight: f.inFlight, waitingForLog: f.waitingForLog, pausedMs: Math.round(broker.flow.pausedMsNow()),
      stateBytes: rt.stateBytes(), workerHeapMb: worker.heapMb, workerHeapPeakMb: worker.heapPeakMb, ...rssMb(),
    };
  };
  finish = async () => {
    const out = { ...stats(), latencySamples: committed.length, durableP50Ms: pct(durable, 50), durableP99Ms: pct(durable, 99), committedP50Ms: pct(committed, 50), committedP99Ms: pct(committed, 99) };
    const outbox = await store.outboxStats();
    if (heapTimer !== null) clearInterval(heapTimer);
    await broker.close(2000);
    ingestor.flush();
    await rt.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    return { ...out, outboxRows: outbox.rows };
  };
  /** `RESET`: forget latency samples so far (the bench starts its measurement window). */
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    if (d.includes('RESET')) {
      durable.length = 0;
      committed.length = 0;
      waiting = [];
    }
  });
} else {
  process.stderr.write('usage: bench-target.ts raw|weir\n');
  process.exit(2);
}

const timer = setInterval(() => say(`STATS ${JSON.stringify(stats())}`), 500);
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  void finish().then((f) => {
    say(`FINAL ${JSON.stringify(f)}`);
    process.exit(0);
  });
});
