import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode } from 'cbor-x';
import { AggregateLayout } from './layout.ts';
import type { AggregateSpec } from './spec.ts';
import { defaultAggregateName, parseQuantileShorthand } from './spec.ts';
import type { Reading } from '../types.ts';

const T = 1_000_000;
const r = (t: number, value: number, tags?: Reading['tags']): Reading => ({ deviceId: 'd', metric: 'm', value, eventTime: T + t, arrivalTime: T + t, ...(tags ? { tags } : {}) });

function agg(specs: AggregateSpec[], rs: Reading[]): Record<string, number | null> {
  const l = new AggregateLayout(specs);
  const pool = l.newPool(2);
  const row = pool.alloc();
  for (const x of rs) l.add(pool, row, x);
  return l.values(pool, row);
}

describe('aggregates', () => {
  // readings in arrival order: times 3000, 1000, 2000, 1000(dup), 4000
  const rs = [r(3000, 4), r(1000, 2), r(2000, 9), r(1000, 7), r(4000, 3)];
  const cases: [AggregateSpec, number | null][] = [
    [{ fn: 'count' }, 5],
    [{ fn: 'sum' }, 25],
    [{ fn: 'min' }, 2],
    [{ fn: 'max' }, 9],
    [{ fn: 'mean' }, 5],
    [{ fn: 'variance' }, (1 + 9 + 16 + 4 + 4) / 5],
    [{ fn: 'stddev' }, Math.sqrt(34 / 5)],
    [{ fn: 'varianceSample' }, 34 / 4],
    [{ fn: 'stddevSample' }, Math.sqrt(34 / 4)],
    [{ fn: 'first' }, 2], // smallest time 1000; the earlier arrival of the tie wins
    [{ fn: 'last' }, 3],
    [{ fn: 'rate' }, ((3 - 2) * 1000) / 3000], // per second from first to last
  ];
  for (const [spec, want] of cases) {
    test(`${spec.fn} is exact`, () => {
      const got = agg([spec], rs)[defaultAggregateName(spec)];
      if (want === null || typeof got !== 'number') assert.equal(got, want);
      else assert.ok(Math.abs(got - want) < 1e-12, `${got} vs ${want}`);
    });
  }

  test('undefined values are null, not NaN or Infinity', () => {
    assert.deepEqual(agg([{ fn: 'min' }, { fn: 'max' }, { fn: 'mean' }, { fn: 'first' }, { fn: 'rate' }, { fn: 'varianceSample' }, { fn: 'quantile', q: 0.5 }], []), {
      min: null, max: null, mean: null, first: null, rate: null, varianceSample: null, p50: null,
    });
    assert.deepEqual(agg([{ fn: 'varianceSample' }, { fn: 'rate' }], [r(0, 1)]), { varianceSample: null, rate: null });
  });

  test('aggregates over a tag field skip readings without a finite number there', () => {
    const got = agg([{ fn: 'count', field: 'tags.rssi' }, { fn: 'mean', field: 'tags.rssi' }, { fn: 'count' }], [r(0, 1, { rssi: -70 }), r(1, 1), r(2, 1, { rssi: 'x' }), r(3, 1, { rssi: -60 })]);
    assert.deepEqual(got, { count_rssi: 2, mean_rssi: -65, count: 4 });
  });

  test('distinct counts values of any field with HyperLogLog', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ ...r(i, i % 37), deviceId: `dev-${i % 250}` }));
    const got = agg([{ fn: 'distinct', field: 'deviceId', as: 'devices' }, { fn: 'distinct' }], rows);
    assert.ok(Math.abs(got.devices! - 250) <= 250 * 3 * 0.0163, `devices ≈ 250, got ${got.devices}`);
    assert.ok(Math.abs(got.distinct! - 37) <= 2, `values ≈ 37, got ${got.distinct}`);
  });

  test('quantiles are within the stated relative accuracy of the exact rank', () => {
    const vals = Array.from({ length: 5000 }, (_, i) => 1 + ((i * 7919) % 5000) / 10);
    const sorted = [...vals].sort((a, b) => a - b);
    const got = agg([0.5, 0.9, 0.95, 0.99].map((q) => ({ fn: 'quantile' as const, q })), vals.map((v, i) => r(i, v)));
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
      const name = defaultAggregateName({ fn: 'quantile', q });
      assert.ok(Math.abs(got[name]! - exact) <= 0.01 * exact + 1e-9, `${name}: ${got[name]} vs ${exact}`);
    }
  });

  test('merging partial rows equals adding everything to one row', () => {
    const specs: AggregateSpec[] = [
      { fn: 'count' }, { fn: 'sum' }, { fn: 'min' }, { fn: 'max' }, { fn: 'mean' }, { fn: 'variance' },
      { fn: 'first' }, { fn: 'last' }, { fn: 'rate' }, { fn: 'quantile', q: 0.9 }, { fn: 'distinct' },
    ];
    const l = new AggregateLayout(specs);
    const pool = l.newPool(1);
    const whole = pool.alloc();
    const a = pool.alloc();
    const b = pool.alloc();
    const merged = pool.alloc(); // forces the pool to grow past its first capacity
    const xs = Array.from({ length: 200 }, (_, i) => r(i * 10, Math.sin(i) * 100));
    xs.forEach((x, i) => {
      l.add(pool, whole, x);
      l.add(pool, i < 120 ? a : b, x); // panes are disjoint in time
    });
    l.merge(pool, merged, pool, a);
    l.merge(pool, merged, pool, b);
    const w = l.values(pool, whole);
    const m = l.values(pool, merged);
    for (const k of Object.keys(w)) {
      assert.ok(Math.abs((w[k] as number) - (m[k] as number)) <= 1e-9 * Math.max(1, Math.abs(w[k] as number)), `${k}: ${w[k]} vs ${m[k]}`);
    }
  });

  test('rows survive save → CBOR → load exactly', () => {
    const l = new AggregateLayout([{ fn: 'mean' }, { fn: 'min' }, { fn: 'quantile', q: 0.95 }, { fn: 'distinct', field: 'deviceId' }]);
    const p1 = l.newPool(4);
    const row = p1.alloc();
    for (let i = 0; i < 50; i++) l.add(p1, row, r(i, i * 1.5));
    const saved = decode(encode(l.saveRow(p1, row)));
    const p2 = l.newPool(4);
    const row2 = p2.alloc();
    l.loadRow(p2, row2, saved);
    assert.deepEqual(l.values(p2, row2), l.values(p1, row));
    assert.deepEqual(decode(encode(l.saveRow(p2, row2))), saved);
    assert.throws(() => l.loadRow(p2, row2, { f: [1, 2] }), TypeError);
  });

  test('released rows are reused and start empty', () => {
    const l = new AggregateLayout([{ fn: 'sum' }, { fn: 'quantile', q: 0.5 }]);
    const p = l.newPool(1);
    const a = p.alloc();
    l.add(p, a, r(0, 5));
    p.release(a);
    const b = p.alloc();
    assert.equal(b, a);
    assert.deepEqual(l.values(p, b), { sum: 0, p50: null });
    assert.equal(p.live, 1);
  });

  test('quantile shorthands', () => {
    assert.equal(parseQuantileShorthand('p95'), 0.95);
    assert.equal(parseQuantileShorthand('p99.9'), 0.999);
    assert.equal(parseQuantileShorthand('p100'), null);
    assert.equal(parseQuantileShorthand('mean'), null);
    assert.equal(defaultAggregateName({ fn: 'quantile', q: 0.999 }), 'p99_9');
    assert.equal(defaultAggregateName({ fn: 'max', field: 'tags.rssi' }), 'max_rssi');
  });
});
