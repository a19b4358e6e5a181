import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregateSpec } from '../engine/aggregates/spec.ts';
import { canMerge, decodeWindowPayload, encodeWindowPayload, mergePlan, mergeWindows, type OutboxWindow } from './window-merge.ts';
import { rng } from './test-support.ts';

interface Pt { t: number; v: number; h?: number }

const SPECS: AggregateSpec[] = [
  { fn: 'count' }, { fn: 'sum' }, { fn: 'min' }, { fn: 'max' }, { fn: 'mean' },
  { fn: 'variance' }, { fn: 'stddev' }, { fn: 'varianceSample' }, { fn: 'stddevSample' },
  { fn: 'first' }, { fn: 'last' }, { fn: 'rate' }, { fn: 'quantile', q: 0.95 }, { fn: 'distinct', field: 'deviceId' },
  { fn: 'count', field: 'tags.h' }, { fn: 'mean', field: 'tags.h' }, { fn: 'variance', field: 'tags.h' },
  { fn: 'sum', field: 'tags.x', as: 'sx' }, { fn: 'varianceSample', field: 'tags.x', as: 'vx' },
];
const PLAN = mergePlan(SPECS);

/** Reference aggregates over raw points, as the engine defines them (population variance ÷n, sample ÷(n−1)). */
function stats(xs: number[]): { n: number; sum: number; mean: number | null; m2: number } {
  const n = xs.length;
  const sum = xs.reduce((a, b) => a + b, 0);
  const mean = n === 0 ? null : sum / n;
  const m2 = n === 0 ? 0 : xs.reduce((a, x) => a + (x - mean!) ** 2, 0);
  return { n, sum, mean, m2 };
}

function windowOf(points: Pt[], start: number, end: number): OutboxWindow {
  const v = stats(points.map((p) => p.v));
  const hs = points.filter((p) => p.h !== undefined).map((p) => p.h!);
  const h = stats(hs);
  return {
    type: 'window', pipeline: 'p', key: { deviceId: 'd1' }, start, end, version: 1, count: v.n,
    values: {
      count: v.n, sum: v.sum,
      min: v.n === 0 ? null : Math.min(...points.map((p) => p.v)),
      max: v.n === 0 ? null : Math.max(...points.map((p) => p.v)),
      mean: v.mean,
      variance: v.n === 0 ? null : v.m2 / v.n,
      stddev: v.n === 0 ? null : Math.sqrt(v.m2 / v.n),
      varianceSample: v.n < 2 ? null : v.m2 / (v.n - 1),
      stddevSample: v.n < 2 ? null : Math.sqrt(v.m2 / (v.n - 1)),
      first: v.n === 0 ? null : points[0]!.v,
      last: v.n === 0 ? null : points[points.length - 1]!.v,
      rate: 1.5, p95: 12, distinct_deviceId: 1,
      count_h: h.n, mean_h: h.mean, variance_h: h.n === 0 ? null : h.m2 / h.n,
      sx: 3, vx: 4,
    },
  };
}

function near(actual: number | null | undefined, expected: number | null, what: string): void {
  if (expected === null) {
    assert.equal(actual, null, what);
    return;
  }
  assert.equal(typeof actual, 'number', what);
  assert.ok(Math.abs(actual! - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

function pointsIn(seed: number, start: number, end: number, n: number): Pt[] {
  const r = rng(seed);
  const out: Pt[] = [];
  for (let i = 0; i < n; i++) {
    const p: Pt = { t: start + Math.floor((i * (end - start)) / Math.max(1, n)), v: Math.round(r() * 1e4) / 100 - 20 };
    if (r() < 0.6) p.h = Math.round(r() * 1000) / 10;
    out.push(p);
  }
  return out;
}

describe('window merge', () => {
  const sizes: [string, number[]][] = [
    ['two full windows', [30, 50]],
    ['one reading each', [1, 1]],
    ['empty then full', [0, 7]],
    ['four windows, merged pairwise then again', [12, 3, 40, 9]],
  ];
  for (const [name, ns] of sizes) {
    test(`mergeable aggregates equal the aggregates over the union: ${name}`, () => {
      const wins = ns.map((n, i) => ({ pts: pointsIn(100 + i, i * 60_000, (i + 1) * 60_000, n), start: i * 60_000, end: (i + 1) * 60_000 }));
      const results = wins.map((w) => windowOf(w.pts, w.start, w.end));
      let merged: OutboxWindow[] = results;
      while (merged.length > 1) {
        const next: OutboxWindow[] = [];
        for (let i = 0; i < merged.length; i += 2) next.push(mergeWindows(merged[i]!, merged[i + 1]!, PLAN));
        merged = next;
      }
      const m = merged[0]!;
      const expected = windowOf(wins.flatMap((w) => w.pts), 0, ns.length * 60_000);
      assert.equal(m.start, 0);
      assert.equal(m.end, ns.length * 60_000);
      assert.equal(m.count, expected.count);
      assert.equal(m.version, 1);
      // sx (a sum) merges without knowing n; vx (a variance of tags.x) needs tags.x's count, which is not an output.
      assert.deepEqual(m.merged, { windows: ns.length, inexact: ['distinct_deviceId', 'p95', 'rate', 'vx'] });
      assert.equal(m.values['sx'], 3 * ns.length);
      for (const name of ['count', 'sum', 'min', 'max', 'mean', 'variance', 'stddev', 'varianceSample', 'stddevSample', 'first', 'last', 'count_h', 'mean_h', 'variance_h']) {
        near(m.values[name], expected.values[name]!, name);
      }
      for (const name of m.merged!.inexact) assert.equal(m.values[name], null, name);
    });
  }

  test('an output the spec does not describe becomes null and inexact', () => {
    const a = windowOf(pointsIn(1, 0, 10, 3), 0, 10);
    const b = windowOf(pointsIn(2, 10, 20, 3), 10, 20);
    const m = mergeWindows({ ...a, values: { ...a.values, mystery: 1 } }, b, mergePlan([{ fn: 'count' }]));
    assert.equal(m.values['mystery'], null);
    assert.ok(m.merged!.inexact.includes('mystery'));
    assert.equal(m.values['count'], 6);
  });

  const refusals: [string, Partial<OutboxWindow>, Partial<OutboxWindow>][] = [
    ['overlapping (hopping) windows', { start: 0, end: 20 }, { start: 10, end: 30 }],
    ['out of order', { start: 10, end: 20 }, { start: 0, end: 10 }],
    ['with a gap between them', { start: 0, end: 10 }, { start: 15, end: 25 }],
    ['different keys', { key: { deviceId: 'a' } }, { key: { deviceId: 'b' }, start: 10, end: 20 }],
    ['different pipelines', { pipeline: 'x' }, { pipeline: 'y', start: 10, end: 20 }],
    ['session windows with retractions', { retracts: [{ start: 0, end: 5, version: 1 }] }, { start: 10, end: 20 }],
    ['count windows', { index: 0 }, { index: 1, start: 10, end: 20 }],
  ];
  for (const [name, pa, pb] of refusals) {
    test(`refuses to merge ${name}`, () => {
      const a = { ...windowOf([], 0, 10), ...pa } as OutboxWindow;
      const b = { ...windowOf([], 10, 20), ...pb } as OutboxWindow;
      assert.equal(canMerge(a, b), false);
      assert.throws(() => mergeWindows(a, b, PLAN), (e: unknown) => (e as { code?: string }).code === 'E_STATE_ARGUMENT');
    });
  }

  test('payload codec round-trips a merged window', () => {
    const m = mergeWindows(windowOf(pointsIn(1, 0, 10, 4), 0, 10), windowOf(pointsIn(2, 10, 20, 4), 10, 20), PLAN);
    assert.deepEqual(decodeWindowPayload(encodeWindowPayload(m)), m);
    assert.throws(() => decodeWindowPayload(encodeWindowPayload({ type: 'late' } as unknown as OutboxWindow)));
  });
});
