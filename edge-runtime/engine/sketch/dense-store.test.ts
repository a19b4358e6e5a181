import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DenseStore } from './dense-store.ts';

/**
 * The model: a value of index i ends in bin max(i, hiEver − maxBins + 1), and
 * `collapsed` is true iff some index was below that floor.
 */
function model(indices: readonly number[], maxBins: number): { offset: number; counts: number[]; collapsed: boolean } {
  if (indices.length === 0) return { offset: 0, counts: [], collapsed: false };
  const hi = Math.max(...indices);
  const floor = hi - maxBins + 1;
  const bins = new Map<number, number>();
  let collapsed = false;
  for (const i of indices) {
    if (i < floor) collapsed = true;
    const b = Math.max(i, floor);
    bins.set(b, (bins.get(b) ?? 0) + 1);
  }
  const lo = Math.min(...bins.keys());
  const counts: number[] = [];
  for (let i = lo; i <= hi; i++) counts.push(bins.get(i) ?? 0);
  return { offset: lo, counts, collapsed };
}

function plain(s: DenseStore): { offset: number; counts: number[]; collapsed: boolean } {
  return { ...s.toPlain(), collapsed: s.collapsed };
}

const indices = fc.array(fc.oneof(fc.integer({ min: -40, max: 40 }), fc.integer({ min: -5000, max: 5000 })), { maxLength: 200 });
const maxBins = fc.constantFrom(1, 2, 3, 8, 33, 100, 4096);

describe('DenseStore', () => {
  test('adds match the model, whatever the order', () => {
    fc.assert(
      fc.property(indices, maxBins, (xs, b) => {
        const s = new DenseStore(b);
        for (const i of xs) s.add(i, 1);
        assert.deepEqual(plain(s), model(xs, b));
        assert.equal(s.total, xs.length);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('merge of any split equals adding everything to one store', () => {
    fc.assert(
      fc.property(indices, indices, indices, maxBins, (xs, ys, zs, b) => {
        const a = new DenseStore(b);
        const c = new DenseStore(b);
        const d = new DenseStore(b);
        for (const i of xs) a.add(i, 1);
        for (const i of ys) c.add(i, 1);
        for (const i of zs) d.add(i, 1);
        c.mergeFrom(d);
        a.mergeFrom(c);
        assert.deepEqual(plain(a), model([...xs, ...ys, ...zs], b));
        assert.equal(a.total, xs.length + ys.length + zs.length);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('loadPlain(toPlain()) continues exactly like the original', () => {
    fc.assert(
      fc.property(indices, indices, maxBins, (xs, ys, b) => {
        const a = new DenseStore(b);
        for (const i of xs) a.add(i, 1);
        const p = a.toPlain();
        const r = new DenseStore(b);
        r.loadPlain(p.offset, p.counts, a.collapsed);
        for (const i of ys) {
          a.add(i, 1);
          r.add(i, 1);
        }
        assert.deepEqual(plain(r), plain(a));
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('rank lookup from either end', () => {
    const s = new DenseStore(16);
    // bins: 3 → 2, 5 → 1, 9 → 3
    for (const [i, n] of [[3, 2], [5, 1], [9, 3]] as const) s.add(i, n);
    const fromLow = [0, 1, 2, 3, 4, 5].map((r) => s.indexAtRankFromLow(r));
    const fromHigh = [0, 1, 2, 3, 4, 5].map((r) => s.indexAtRankFromHigh(r));
    assert.deepEqual(fromLow, [3, 3, 5, 9, 9, 9]);
    assert.deepEqual(fromHigh, [9, 9, 9, 5, 3, 3]);
    assert.equal(s.countAt(9), 3);
    assert.equal(s.countAt(4), 0);
    assert.equal(s.countAt(100), 0);
  });

  test('the array never grows past maxBins cells while the range slides up', () => {
    const s = new DenseStore(64);
    for (let i = 0; i < 100_000; i += 7) s.add(i, 1);
    assert.ok(s.byteSize() <= 64 + 64 * 8, `byteSize ${s.byteSize()}`);
    assert.equal(s.hi - s.lo + 1, 64);
    assert.equal(s.total, Math.ceil(100_000 / 7));
  });
});
