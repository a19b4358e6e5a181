/**
 * node --import tsx edge-runtime/ingest/dedup-measure.ts [-- --frames 200000 --rounds 5 --window 131072]
 *
 * What de-duplication costs, in one run (rounds alternate off/on; each figure
 * is the median of `rounds`):
 *
 *  (a) Ingestor.submit throughput, dedup off vs on, over a log that commits
 *      in a microtask: the ingest path alone (decode, profile checks, the
 *      table), so the ratio is the worst case;
 *  (b) the same over the real log (GatewayRuntime, group commit, SQLite on
 *      the storage worker thread, synchronous FULL, no pipelines): what a
 *      gateway sees;
 *  (c) the rebuild at start: `window` readings in the log (segments of 1,000,
 *      the group commit's largest batch), read back into a fresh table
 *      through the WorkerStateStore, as Gateway.start does.
 *
 * Frames: flat JSON, 3 metrics, 10,000 devices round robin, new event times
 * (no duplicates: the cost of looking, not of finding).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, benchLine, median, round } from '../bench/bench-util.ts';
import type { SourceRecord } from '../engine/types.ts';
import { GatewayRuntime } from '../runtime/gateway-runtime.ts';
import { WorkerStateStore } from '../state/worker-store.ts';
import { builtinProfile, type DeviceProfile } from '../../devices/index.ts';
import { Ingestor, type DurableLog, type RawFrame } from './ingestor.ts';
import { RecentReadings } from './recent-readings.ts';
import { rememberLogTail } from './recent-readings-from-log.ts';

const frames = arg('frames', 200_000);
const rounds = arg('rounds', 5);
const window = arg('window', 131_072);
const DEVICES = 10_000;
const T0 = Date.UTC(2026, 0, 1);
const env = builtinProfile('env-sensor') as DeviceProfile;
const quarantine = { quarantine: () => Promise.resolve({ ids: [] }) };

function makeFrames(n: number, base: number): RawFrame[] {
  const out: RawFrame[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const d = `env-${String(10_000 + (i % DEVICES))}`;
    const ts = base + Math.floor(i / DEVICES) * 1000;
    out[i] = {
      transport: 'mqtt', topicOrUri: `weir/${d}/telemetry`, deviceId: d, arrivalTime: ts + 5,
      payload: Buffer.from(JSON.stringify({ ts, temperature: 21.5, humidity: 40.2, pressure: 101_325 })),
    };
  }
  return out;
}

/** Readings per second through submitBatch, batches of 1,000 frames, one at a time. */
async function throughput(ing: Ingestor, input: readonly RawFrame[]): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < input.length; i += 1000) {
    const batch = input.slice(i, i + 1000);
    await new Promise<void>((resolve, reject) => {
      let left = batch.length;
      ing.submitBatch(batch, (_, outcome, error) => {
        if (outcome === null) reject(error);
        else if (--left === 0) resolve();
      });
    });
  }
  const s = (performance.now() - t0) / 1000;
  if (ing.counters.readings !== input.length * 3) throw new Error(`expected ${input.length * 3} readings, got ${ing.counters.readings}`);
  return (input.length * 3) / s;
}

class MemoryLog implements DurableLog {
  n = 0;
  readonly writable = true;
  appendBatch(records: readonly SourceRecord[]): Promise<number> {
    const first = this.n + 1;
    this.n += records.length;
    return Promise.resolve(first);
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
}

async function memoryRound(dedup: boolean, r: number): Promise<number> {
  const input = makeFrames(frames, T0 + r * 86_400_000);
  const ing = new Ingestor({ profiles: [env], log: new MemoryLog(), quarantine, recent: dedup ? new RecentReadings(window) : null });
  return throughput(ing, input);
}

async function realRound(dedup: boolean, r: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dedup-measure-'));
  const store = await WorkerStateStore.open({ path: join(dir, 'weir.db'), synchronous: 'FULL' });
  const runtime = await GatewayRuntime.start({ store, plans: [], checkpointIntervalMs: 0, tickIntervalMs: 0 });
  try {
    const ing = new Ingestor({ profiles: [env], log: runtime, quarantine: store, recent: dedup ? new RecentReadings(window) : null });
    return await throughput(ing, makeFrames(Math.floor(frames / 4), T0 + r * 86_400_000));
  } finally {
    await runtime.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rebuildRounds(): Promise<{ ms: number[]; readings: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dedup-rebuild-'));
  const store = await WorkerStateStore.open({ path: join(dir, 'weir.db'), synchronous: 'NORMAL' });
  try {
    for (let i = 0; i < window; i += 1000) {
      const seg: SourceRecord[] = [];
      for (let j = i; j < Math.min(i + 1000, window); j++) {
        seg.push({ type: 'reading', reading: { deviceId: `env-${String(10_000 + (j % DEVICES))}`, metric: 'temperature', value: 21.5, eventTime: T0 + j * 10, arrivalTime: T0 + j * 10 + 5 } });
      }
      await store.appendSegment(seg);
    }
    const ms: number[] = [];
    let readings = 0;
    for (let r = 0; r < rounds; r++) {
      const rep = await rememberLogTail(new RecentReadings(window), store);
      ms.push(rep.ms);
      readings = rep.readings;
    }
    return { ms, readings };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mem = { off: [] as number[], on: [] as number[] };
const real = { off: [] as number[], on: [] as number[] };
await memoryRound(false, -1); // warm-up (JIT)
await memoryRound(true, -2);
for (let r = 0; r < rounds; r++) {
  mem.off.push(await memoryRound(false, 2 * r));
  mem.on.push(await memoryRound(true, 2 * r + 1));
}
for (let r = 0; r < rounds; r++) {
  real.off.push(await realRound(false, 2 * r));
  real.on.push(await realRound(true, 2 * r + 1));
}
const rebuild = await rebuildRounds();
benchLine({
  bench: 'ingest-dedup',
  frames, rounds, window,
  tableMiB: round(new RecentReadings(window).bytes / 1024 ** 2, 2),
  submitReadingsPerSec: { off: round(median(mem.off)), on: round(median(mem.on)), ratio: round(median(mem.on) / median(mem.off), 3) },
  submitRealLogReadingsPerSec: { off: round(median(real.off)), on: round(median(real.on)), ratio: round(median(real.on) / median(real.off), 3) },
  rebuildMs: { median: round(median(rebuild.ms), 1), all: rebuild.ms.map((x) => round(x, 1)), readings: rebuild.readings },
});
