/**
 * Property tests: over random out-of-order, late and duplicate-timestamp
 * streams, for every window kind and lateness setting, the streaming engine's
 * final view equals a brute-force batch computation (test/support/oracle.ts),
 * late side outputs are exactly the readings the semantics say, and a
 * snapshot → CBOR → restore in the middle changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode, decode } from 'cbor-x';
import type { Reading, SourceRecord } from '../edge-runtime/engine/types.ts';
import type { PipelineOutput, WindowResult } from '../edge-runtime/engine/outputs.ts';
import type { PipelinePlan, WindowPlan } from '../edge-runtime/pipeline/plan.ts';
import type { WatermarkSpec } from '../edge-runtime/engine/watermark-generator.ts';
import { compilePipeline } from '../edge-runtime/pipeline/compile.ts';
import { PipelineRunner } from '../edge-runtime/engine/pipeline-runner.ts';
import { KEY_SEP } from '../edge-runtime/engine/key.ts';
import { batchAggregates, oracle } from './support/oracle.ts';
import { MemoryColdStore, type ColdStore, type KeyedStateOperator } from '../edge-runtime/engine/keyed-state.ts';

const T0 = 1_767_225_600_000 + 123; // not aligned to anything on purpose

const AGGS = ['count', 'sum', 'min', 'max', 'mean', 'variance', 'first', 'last'] as const;

const streamArb = fc.array(
  fc.record({
    dev: fc.nat(1),
    metric: fc.nat(1),
    step: fc.integer({ min: 0, max: 1500 }),
    skew: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -20_000, max: 1_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: -4_000, max: 0 }) },
    ),
    value: fc.integer({ min: -50, max: 50 }),
    tick: fc.nat(9),
  }),
  { minLength: 1, maxLength: 150, size: 'max' },
).map((steps) => {
  let clock = T0;
  const recs: SourceRecord[] = [];
  for (const s of steps) {
    clock += s.step;
    if (s.tick === 0) {
      recs.push({ type: 'tick', processingTime: clock });
      continue;
    }
    // Rounding to 250 ms makes duplicate timestamps common.
    const eventTime = Math.floor((clock + s.skew) / 250) * 250;
    recs.push({ type: 'reading', reading: { deviceId: `d${s.dev}`, metric: `m${s.metric}`, value: s.value, eventTime, arrivalTime: clock } });
  }
  return recs;
});

/**
 * Like a real device after an outage: one device's readings in a stretch of the
 * stream are held back and replayed together later, with their original
 * timestamps (so they are late by up to the length of the outage).
 */
const burstyArb = fc.tuple(streamArb, fc.nat(1), fc.nat(1000), fc.nat(1000)).map(([recs, dev, a, b]) => {
  const lo = Math.min(a, b) % (recs.length + 1);
  const hi = Math.max(a, b) % (recs.length + 1);
  const held: SourceRecord[] = [];
  const out: SourceRecord[] = [];
  recs.forEach((r, i) => {
    if (i >= lo && i < hi && r.type === 'reading' && r.reading.deviceId === `d${dev}`) held.push(r);
    else out.push(r);
    if (i === hi - 1 || (i === recs.length - 1 && held.length > 0)) {
      const arrival = r.type === 'reading' ? r.reading.arrivalTime : r.processingTime;
      for (const h of held.splice(0)) if (h.type === 'reading') out.push({ type: 'reading', reading: { ...h.reading, arrivalTime: arrival } });
    }
  });
  return out;
});
const inputArb = fc.oneof(streamArb, burstyArb);

const latenessArb = fc.constantFrom(0, 2_000, 10_000, 30_000, 60_000);
const windowArb: fc.Arbitrary<WindowPlan> = fc.oneof(
  fc.record({ type: fc.constant('tumbling' as const), sizeMs: fc.constantFrom(1_000, 5_000, 10_000), offsetMs: fc.constantFrom(0, 300), allowedLatenessMs: latenessArb }),
  fc.record({
    type: fc.constant('hopping' as const),
    sizeMs: fc.constant(10_000),
    slideMs: fc.constantFrom(2_000, 4_000, 5_000),
    offsetMs: fc.constantFrom(0, 1_000),
    allowedLatenessMs: latenessArb,
  }),
  fc.record({ type: fc.constant('session' as const), gapMs: fc.constantFrom(1_000, 3_000), maxDurationMs: fc.constant(null), allowedLatenessMs: latenessArb }),
  fc.record({ type: fc.constant('count' as const), size: fc.constantFrom(1, 3, 5) }),
);
const wmArb: fc.Arbitrary<WatermarkSpec> = fc.record({
  maxOutOfOrderMs: fc.constantFrom(0, 1_000, 5_000),
  idleTimeoutMs: fc.constantFrom(0, 3_000),
  per: fc.constantFrom('pipeline' as const, 'device' as const),
});

function planOf(window: WindowPlan, watermark: WatermarkSpec): PipelinePlan {
  return { name: 'p', watermark, steps: [], keyBy: ['deviceId', 'metric'], window, aggregates: AGGS.map((fn) => ({ fn })), detect: [] };
}

function batches<T>(xs: readonly T[], cuts: readonly number[]): T[][] {
  const pts = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const p of [...pts, xs.length]) {
    if (p > prev) out.push(xs.slice(prev, p));
    prev = Math.max(prev, p);
  }
  return out;
}

function run(plan: PipelinePlan, parts: readonly SourceRecord[][], restoreAt = -1): PipelineOutput[] {
  let c = compilePipeline(plan);
  const out: PipelineOutput[] = [];
  parts.forEach((b, i) => {
    if (i === restoreAt) {
      const snap = decode(encode(c.runner.checkpoint(i)));
      c = compilePipeline(plan);
      c.runner.restore(snap);
    }
    out.push(...c.runner.push(b));
  });
  out.push(...c.runner.end());
  return out;
}

const idOf = (w: { key: Record<string, string>; start: number; end: number; index?: number }): string =>
  `${w.key.deviceId}${KEY_SEP}${w.key.metric}|${w.index ?? `${w.start}-${w.end}`}`;

/** Applies emissions in order: latest version per identity, retractions removed. */
function finalView(outs: readonly PipelineOutput[]): Map<string, WindowResult> {
  const view = new Map<string, WindowResult>();
  for (const o of outs) {
    if (o.type !== 'window') continue;
    for (const r of o.retracts ?? []) {
      const rid = idOf({ key: o.key, start: r.start, end: r.end });
      const prev = view.get(rid);
      assert.ok(prev, `retracts ${rid} which is not in the view`);
      assert.equal(prev.version, r.version, `retracts ${rid} at a stale version`);
      view.delete(rid);
    }
    const id = idOf(o);
    const prev = view.get(id);
    if (prev) assert.ok(o.version > prev.version, `${id}: version ${o.version} after ${prev.version}`);
    view.set(id, o);
  }
  return view;
}

function close(a: number | null | undefined, b: number | null, what: string): void {
  if (b === null || a === null || a === undefined) {
    assert.equal(a, b, what);
    return;
  }
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

const lateKey = (r: Reading, missed: number): string => `${r.deviceId}/${r.metric}@${r.eventTime}#${r.arrivalTime}=${r.value}x${missed}`;

test('streaming windows equal a brute-force batch computation', () => {
  fc.assert(
    fc.property(inputArb, windowArb, wmArb, fc.array(fc.nat(200), { maxLength: 6 }), (recs, window, wm, cuts) => {
      const plan = planOf(window, wm);
      const outs = run(plan, batches(recs, cuts));
      const view = finalView(outs);
      const want = oracle(recs, wm, window, (r) => r.deviceId + KEY_SEP + r.metric);
      const wantIds = new Map(want.windows.map((w) => [`${w.key}|${w.index ?? `${w.start}-${w.end}`}`, w]));
      assert.deepEqual([...view.keys()].sort(), [...wantIds.keys()].sort(), 'set of windows');
      for (const [id, got] of view) {
        const w = wantIds.get(id)!;
        const exp = batchAggregates(w.readings);
        assert.equal(got.count, exp.count, `${id} count`);
        for (const k of ['count', 'sum', 'min', 'max', 'first', 'last'] as const) assert.equal(got.values[k], exp[k], `${id} ${k}`);
        close(got.values.mean, exp.mean!, `${id} mean`);
        close(got.values.variance, exp.variance!, `${id} variance`);
        if (window.type === 'count') assert.equal(got.partial === true, w.readings.length < window.size, `${id} partial`);
      }
      const gotLate = outs.filter((o) => o.type === 'late').map((o) => lateKey(o.reading, o.missedWindows)).sort();
      const wantLate = want.late.map((l) => lateKey(l.reading, l.missed)).sort();
      assert.deepEqual(gotLate, wantLate, 'late side output');
    }),
    { seed: 20261121, numRuns: 400 },
  );
});

test('output does not depend on how the input is batched (same content, per-window versions aside)', () => {
  fc.assert(
    fc.property(inputArb, windowArb, wmArb, fc.array(fc.nat(200), { maxLength: 6 }), (recs, window, wm, cuts) => {
      const plan = planOf(window, wm);
      const a = finalView(run(plan, [recs]));
      const b = finalView(run(plan, batches(recs, cuts)));
      assert.deepEqual(
        [...a].map(([k, v]) => [k, v.count, v.values]).sort(),
        [...b].map(([k, v]) => [k, v.count, v.values]).sort(),
      );
    }),
    { seed: 7, numRuns: 200 },
  );
});

test('snapshot → CBOR → restore at any batch boundary gives exactly the same outputs', () => {
  fc.assert(
    fc.property(inputArb, windowArb, wmArb, fc.array(fc.nat(200), { minLength: 1, maxLength: 6 }), fc.nat(10), (recs, window, wm, cuts, at) => {
      const plan = planOf(window, wm);
      const parts = batches(recs, cuts);
      const k = at % Math.max(1, parts.length);
      assert.deepEqual(run(plan, parts, k), run(plan, parts));
    }),
    { seed: 99, numRuns: 300 },
  );
});

test('snapshot round-trips exactly: restore then snapshot gives the same state', () => {
  fc.assert(
    fc.property(inputArb, windowArb, wmArb, (recs, window, wm) => {
      const plan = planOf(window, wm);
      const c = compilePipeline(plan);
      c.runner.push(recs);
      const s1 = c.runner.checkpoint(1);
      const c2 = compilePipeline(plan);
      c2.runner.restore(decode(encode(s1)));
      assert.deepEqual(decode(encode(c2.runner.checkpoint(1))), decode(encode(s1)));
    }),
    { seed: 3, numRuns: 200 },
  );
});

// ---- keyed state: spill and incremental checkpoints (tumbling and hopping) ----

type TimeWindowPlan = Extract<WindowPlan, { type: 'tumbling' | 'hopping' }>;
const timeWindowArb = windowArb.filter((w): w is TimeWindowPlan => w.type === 'tumbling' || w.type === 'hopping');

/** Runs with a cold store; after every batch evicts `evictShare` of memory (1 = everything). */
function runSpilling(plan: PipelinePlan, parts: readonly SourceRecord[][], evictShare: number): PipelineOutput[] {
  const c = compilePipeline(plan);
  const op = c.window as unknown as KeyedStateOperator & { attachColdStore(s: ColdStore): void };
  op.attachColdStore(new MemoryColdStore());
  const out: PipelineOutput[] = [];
  for (const b of parts) {
    out.push(...c.runner.push(b));
    op.evict(Math.ceil(op.memoryBytes() * evictShare) || 0);
  }
  out.push(...c.runner.end());
  return out;
}

test('spilling any share of state to the cold store after any batch changes no output', () => {
  fc.assert(
    fc.property(inputArb, timeWindowArb, wmArb, fc.array(fc.nat(200), { maxLength: 6 }), fc.constantFrom(0.3, 0.7, 1, Infinity), (recs, window, wm, cuts, share) => {
      const plan = planOf(window, wm);
      const parts = batches(recs, cuts);
      assert.deepEqual(runSpilling(plan, parts, share), run(plan, parts));
    }),
    { seed: 11, numRuns: 300 },
  );
});

test('incremental checkpoints (changed rows + closed panes) restored mid-stream, with spill, give the same outputs', () => {
  fc.assert(
    fc.property(inputArb, timeWindowArb, wmArb, fc.array(fc.nat(200), { minLength: 1, maxLength: 8 }), fc.nat(20), fc.boolean(), (recs, window, wm, cuts, at, spill) => {
      const plan = planOf(window, wm);
      const parts = batches(recs, cuts);
      const crashAt = at % Math.max(1, parts.length);
      const table = new Map<string, unknown>(); // the checkpointed rows, as the store would hold them
      const fresh = (): { c: ReturnType<typeof compilePipeline>; op: KeyedStateOperator } => {
        const c = compilePipeline(plan);
        const op = c.window as unknown as KeyedStateOperator & { attachColdStore(s: ColdStore): void };
        if (spill) op.attachColdStore(new MemoryColdStore());
        return { c, op };
      };
      let { c, op } = fresh();
      let gen: unknown = null; // the watermark generator's full snapshot, taken at the same barriers
      const out: PipelineOutput[] = [];
      parts.forEach((b, i) => {
        if (i === crashAt && i > 0) {
          ({ c, op } = fresh());
          op.beginRestore();
          for (const k of [...table.keys()].sort()) op.restoreRow(k, decode(encode(table.get(k))));
          c.watermark.restore(decode(encode(gen)) as ReturnType<typeof c.watermark.snapshot>);
        }
        out.push(...c.runner.push(b));
        if (spill) op.evict(Math.ceil(op.memoryBytes() / 2));
        // checkpoint after every batch
        const d = op.drainDelta();
        for (const p of d.deletePrefixes) for (const k of [...table.keys()]) if (k.startsWith(p)) table.delete(k);
        for (const k of d.deletes) table.delete(k);
        for (const [k, v] of d.upserts) table.set(k, decode(encode(v)));
        gen = c.watermark.snapshot();
      });
      out.push(...c.runner.end());
      assert.deepEqual(out, run(plan, parts));
    }),
    { seed: 5, numRuns: 300 },
  );
});

test('operators handing output downstream in small chunks (and to a streaming sink) change nothing', () => {
  fc.assert(
    fc.property(inputArb, windowArb, wmArb, fc.array(fc.nat(200), { maxLength: 6 }), fc.constantFrom(1, 2, 5), (recs, window, wm, cuts, chunk) => {
      const plan = planOf(window, wm);
      const parts = batches(recs, cuts);
      const c = compilePipeline(plan);
      const chunked = new PipelineRunner(plan.name, c.runner.operators, chunk);
      const streamed: PipelineOutput[] = [];
      chunked.setSink((outs) => streamed.push(...outs));
      for (const b of parts) assert.deepEqual(chunked.push(b), []);
      assert.deepEqual(chunked.end(), []);
      assert.deepEqual(streamed, run(plan, parts));
    }),
    { seed: 23, numRuns: 300 },
  );
});
