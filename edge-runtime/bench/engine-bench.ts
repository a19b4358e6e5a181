/**
 * npm run bench:engine [-- --events N --runs R]
 *
 * In-process events/s through a compiled pipeline (watermarks → keyed window →
 * aggregates), fed pre-built batches of 4,096 records, 10,000 keys
 * (deviceId × metric), one reading per key per second of event time, up to
 * 2 s out of order. Scenarios:
 *   (a) 10 s tumbling count/sum/mean/min/max       (b) the same plus p95
 *   (c) 60 s / 10 s hopping mean                   (d) 30 s-gap session count
 * Each scenario runs R times (default 5); the median is reported. State bytes
 * per key: V8 heap + array buffer growth (after GC) with (a) holding 10,000 open windows.
 */
import type { SourceRecord } from '../engine/types.ts';
import type { PipelinePlan } from '../pipeline/plan.ts';
import { compilePipeline } from '../pipeline/compile.ts';
import type { AggregateSpec } from '../engine/aggregates/spec.ts';
import { arg, benchLine, heapAndBuffers, median, round } from './bench-util.ts';

const KEYS = 10_000;
const DEVICES = 5_000;
const METRICS = ['temperature', 'humidity'];
const N = arg('events', 2_000_000);
const RUNS = arg('runs', 5);
const BATCH = 4096;
const T0 = Date.UTC(2026, 0, 1);

function makeInput(n: number): SourceRecord[][] {
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const devices = Array.from({ length: DEVICES }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
  const batches: SourceRecord[][] = [];
  let b: SourceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % KEYS;
    const second = Math.floor(i / KEYS);
    const eventTime = T0 + second * 1000 + Math.floor(rnd() * 1000) - (rnd() < 0.05 ? 1500 : 0);
    b.push({
      type: 'reading',
      reading: { deviceId: devices[k % DEVICES]!, metric: METRICS[Math.floor(k / DEVICES)]!, value: 20 + rnd() * 10, eventTime, arrivalTime: T0 + second * 1000 + 1000 },
    });
    if (b.length === BATCH) {
      batches.push(b);
      b = [];
    }
  }
  if (b.length > 0) batches.push(b);
  return batches;
}

function plan(name: string, window: PipelinePlan['window'], aggregates: AggregateSpec[]): PipelinePlan {
  return { name, watermark: { maxOutOfOrderMs: 2000, idleTimeoutMs: 0, per: 'pipeline' }, steps: [], keyBy: ['deviceId', 'metric'], window, aggregates, detect: [] };
}

const basic: AggregateSpec[] = [{ fn: 'count' }, { fn: 'sum' }, { fn: 'mean' }, { fn: 'min' }, { fn: 'max' }];
const scenarios: Record<string, PipelinePlan> = {
  tumbling: plan('a', { type: 'tumbling', sizeMs: 10_000, offsetMs: 0, allowedLatenessMs: 0 }, basic),
  tumblingP95: plan('b', { type: 'tumbling', sizeMs: 10_000, offsetMs: 0, allowedLatenessMs: 0 }, [...basic, { fn: 'quantile', q: 0.95 }]),
  hopping: plan('c', { type: 'hopping', sizeMs: 60_000, slideMs: 10_000, offsetMs: 0, allowedLatenessMs: 0 }, [{ fn: 'mean' }]),
  session: plan('d', { type: 'session', gapMs: 30_000, maxDurationMs: null, allowedLatenessMs: 0 }, [{ fn: 'count' }]),
};

function runOnce(p: PipelinePlan, input: SourceRecord[][]): { eps: number; outputs: number } {
  const c = compilePipeline(p);
  let outputs = 0;
  const t = process.hrtime.bigint();
  for (const b of input) outputs += c.runner.push(b).length;
  outputs += c.runner.end().length;
  const sec = Number(process.hrtime.bigint() - t) / 1e9;
  return { eps: N / sec, outputs };
}

const input = makeInput(N);
const results: Record<string, number> = {};
const detail: Record<string, { runs: number[]; outputs: number }> = {};
for (const [name, p] of Object.entries(scenarios)) {
  runOnce(p, input.slice(0, 50)); // warm-up
  const runs: number[] = [];
  let outputs = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = runOnce(p, input);
    runs.push(r.eps);
    outputs = r.outputs;
  }
  results[name] = median(runs);
  detail[name] = { runs: runs.map((x) => round(x)), outputs };
  process.stderr.write(`${name.padEnd(12)} ${round(results[name]! / 1e6, 3)} M events/s (median of ${RUNS}; runs ${runs.map((x) => round(x / 1e6, 2)).join(', ')}), ${outputs} outputs\n`);
}

// State per key: growth of the V8 heap plus array buffers (the accumulator rows and the row arrays are
// typed arrays) while (a) holds one open 10 s window for each of the 10,000 keys. Median of 3
// pipelines, each kept alive while the next is measured (what a freed pipeline gives back is not
// counted reliably): code V8 compiles meanwhile lands in the heap too and moves one measure by ±15 B.
const half = input.slice(0, Math.ceil((KEYS * 5) / BATCH)); // 5 s of event time: every key has an open window
const perKey: number[] = [];
const held: ReturnType<typeof compilePipeline>[] = [];
for (let i = 0; i < 3; i++) {
  const before = heapAndBuffers();
  const c = compilePipeline(scenarios.tumbling!);
  for (const b of half) c.runner.push(b);
  perKey.push((heapAndBuffers() - before) / KEYS);
  held.push(c);
}
const selfReported = held[0]!.runner.stateBytes() / KEYS;
const stateBytesPerKey = median(perKey);
process.stderr.write(`state: ${round(stateBytesPerKey)} B/key measured as heap + array buffer growth (median of ${perKey.map((x) => round(x)).join(', ')}; ${round(selfReported)} B/key self-reported)\n`);

benchLine({
  events: N,
  keys: KEYS,
  runs: RUNS,
  tumblingEps: round(results.tumbling!),
  tumblingP95Eps: round(results.tumblingP95!),
  hoppingEps: round(results.hopping!),
  sessionEps: round(results.session!),
  stateBytesPerKey: round(stateBytesPerKey),
  stateBytesPerKeySelfReported: round(selfReported),
  node: process.version,
});
