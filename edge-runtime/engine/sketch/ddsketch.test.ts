import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode, decode } from 'cbor-x';
import { DDSketch, MIN_INDEXABLE, type DDSketchState } from './ddsketch.ts';
import { SketchError, type SketchErrorCode } from './errors.ts';

const FIXED_QS = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1];

function sketchOf(xs: readonly number[], opts?: { relativeAccuracy?: number; maxBins?: number }): DDSketch {
  const s = new DDSketch(opts);
  for (const x of xs) s.add(x);
  return s;
}

function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** |answer − exact| ≤ α·|exact|, plus float slack: 1e−9 relative and the subnormal range absolute. */
function assertWithin(answer: number, exact: number, alpha: number, what: string): void {
  const err = Math.abs(answer - exact);
  assert.ok(err <= alpha * Math.abs(exact) * (1 + 1e-9) + MIN_INDEXABLE, `${what}: answer ${answer}, exact ${exact}, α ${alpha}`);
}

function throwsCode(fn: () => unknown, code: SketchErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SketchError && e.code === code);
}

// Finite doubles of every kind: the full range, subnormals, ±0, small integers (duplicates), sensor-like values.
const value = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -20, max: 20 }),
  fc.double({ min: -1000, max: 1000, noNaN: true }),
  fc.constantFrom(0, -0, 5e-324, -5e-324, 1e-310, MIN_INDEXABLE, -MIN_INDEXABLE, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1, 21.5),
);
const values = fc.array(value, { maxLength: 300 });
const alpha = fc.constantFrom(0.01, 0.05, 0.001, 0.2);

describe('DDSketch', () => {
  test('rejects bad options', () => {
    for (const opts of [
      { relativeAccuracy: 0 }, { relativeAccuracy: 1 }, { relativeAccuracy: -0.1 }, { relativeAccuracy: NaN },
      { maxBins: 0 }, { maxBins: 1.5 }, { maxBins: 2 ** 21 },
    ]) {
      throwsCode(() => new DDSketch(opts), 'E_SKETCH_ARGUMENT');
    }
  });

  test('empty sketch', () => {
    const s = new DDSketch();
    assert.equal(s.count, 0);
    assert.equal(s.min, null);
    assert.equal(s.max, null);
    assert.equal(s.quantile(0.5), null);
    assert.deepEqual(s.toState(), {
      version: 1, relativeAccuracy: 0.01, maxBins: 2048, count: 0, min: 0, max: 0, zeroCount: 0,
      posOffset: 0, posCounts: [], posCollapsed: 0, negOffset: 0, negCounts: [], negCollapsed: 0,
    });
  });

  test('non-finite values are refused and not counted', () => {
    const s = new DDSketch();
    assert.deepEqual([NaN, Infinity, -Infinity, 3].map((v) => s.add(v)), [false, false, false, true]);
    assert.equal(s.count, 1);
    assert.equal(s.addN(NaN, 5), false);
    assert.equal(s.addN(4, 0), false);
    assert.equal(s.count, 1);
  });

  test('exact answers where the sketch must be exact', () => {
    const cases: { xs: number[]; q: number; want: number }[] = [
      { xs: [7.25], q: 0.5, want: 7.25 },
      { xs: [3, 3, 3, 3, 3], q: 0.5, want: 3 }, // one bin, clamped to [min, max]
      { xs: [-5, 0, 5], q: 0.5, want: 0 }, // the zero count
      { xs: [-1e-310, 0, 1e-310], q: 0.5, want: 0 }, // subnormals count as zero
      { xs: [1, 2, 3, 4, 100], q: 0, want: 1 }, // q = 0: exact min
      { xs: [1, 2, 3, 4, 100], q: 1, want: 100 }, // q = 1: exact max
      { xs: [-8, -2, -1], q: 1, want: -1 },
      { xs: [1, 2, 3, 4, 100], q: 0.2, want: 1 }, // rank ⌊0.2·4⌋ = 0
    ];
    for (const { xs, q, want } of cases) assert.equal(sketchOf(xs).quantile(q), want, `${JSON.stringify(xs)} q=${q}`);
  });

  test('−0 is stored as 0 (JSON and CBOR turn −0 into 0)', () => {
    const s = sketchOf([-0]);
    assert.ok(Object.is(s.min, 0) && Object.is(s.max, 0) && Object.is(s.quantile(0.5), 0));
  });

  test('quantile rejects q outside [0, 1]', () => {
    const s = sketchOf([1, 2]);
    for (const q of [-0.01, 1.01, NaN]) throwsCode(() => s.quantile(q), 'E_SKETCH_ARGUMENT');
  });

  test('relative accuracy against the exact quantile, any finite input (bins enough for every double)', () => {
    fc.assert(
      fc.property(values, alpha, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }), (xs, a, qs) => {
        // 2^20 bins per sign cover all doubles for α ≥ 0.001, so nothing collapses.
        const s = sketchOf(xs, { relativeAccuracy: a, maxBins: 2 ** 20 });
        assert.equal(s.count, xs.length);
        assert.equal(s.collapsed, false);
        if (xs.length === 0) return;
        const sorted = [...xs].sort((x, y) => x - y);
        for (const q of [...FIXED_QS, ...qs]) assertWithin(s.quantile(q)!, exactQuantile(sorted, q), a, `q=${q}`);
        assert.equal(s.quantile(0), sorted[0]! + 0);
        assert.equal(s.quantile(1), sorted[sorted.length - 1]! + 0);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('with bins collapsed, accuracy holds wherever the rank is outside the folded bin', () => {
    fc.assert(
      fc.property(values, alpha, fc.constantFrom(2048, 64, 8), (xs, a, b) => {
        const s = sketchOf(xs, { relativeAccuracy: a, maxBins: b });
        if (xs.length === 0) return;
        const st = s.toState();
        const lnGamma = Math.log((1 + a) / (1 - a));
        const index = (v: number): number => Math.ceil(Math.log(v) / lnGamma);
        // One bin of margin above the folded one, for float rounding in `index`.
        const folded = (v: number): boolean =>
          (v >= MIN_INDEXABLE && st.posCollapsed === 1 && index(v) <= st.posOffset + 1) ||
          (v <= -MIN_INDEXABLE && st.negCollapsed === 1 && index(-v) <= st.negOffset + 1);
        const sorted = [...xs].sort((x, y) => x - y);
        let checked = 0;
        for (let k = 0; k <= 20; k++) {
          const exact = exactQuantile(sorted, k / 20);
          if (folded(exact)) continue;
          assertWithin(s.quantile(k / 20)!, exact, a, `q=${k / 20}`);
          checked++;
        }
        assert.ok(checked > 0 || s.collapsed);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('inputs spanning less than maxBins bins never collapse', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 300 }), (xs) => {
        // 1e-6..1e6 is 12 decades: ln(1e12)/ln γ ≈ 1382 bins at α = 1%, below 2048.
        const s = sketchOf(xs.map((x) => (Math.abs(x) < 1e-6 ? 0 : x)));
        assert.equal(s.collapsed, false);
      }),
      { seed: 42, numRuns: 100 },
    );
  });

  test('relative accuracy on 20,000 sensor-like values, every percentile', () => {
    let seed = 7;
    const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const xs = Array.from({ length: 20_000 }, () => 20 + (next() - 0.5) * 10 - (next() < 0.02 ? 40 : 0));
    const s = sketchOf(xs);
    const sorted = [...xs].sort((x, y) => x - y);
    for (let p = 0; p <= 100; p++) assertWithin(s.quantile(p / 100)!, exactQuantile(sorted, p / 100), 0.01, `p${p}`);
  });

  test('merge(sketch(A), sketch(B)) has the state of sketch(A ++ B)', () => {
    fc.assert(
      fc.property(values, values, alpha, fc.constantFrom(2048, 16, 3), (xs, ys, a, b) => {
        const opts = { relativeAccuracy: a, maxBins: b };
        const m = sketchOf(xs, opts);
        m.merge(sketchOf(ys, opts));
        assert.deepEqual(m.toState(), sketchOf([...xs, ...ys], opts).toState());
        assert.deepEqual(sketchOf([...ys].reverse().concat(xs), opts).toState(), m.toState()); // order-free
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('merge with itself doubles every count', () => {
    const xs = [-3, 0, 0.5, 7, 7, 1e6];
    const s = sketchOf(xs);
    s.merge(s);
    assert.deepEqual(s.toState(), sketchOf([...xs, ...xs]).toState());
  });

  test('merge refuses different parameters', () => {
    throwsCode(() => new DDSketch({ relativeAccuracy: 0.01 }).merge(new DDSketch({ relativeAccuracy: 0.02 })), 'E_SKETCH_MISMATCH');
    throwsCode(() => new DDSketch({ maxBins: 100 }).merge(new DDSketch({ maxBins: 101 })), 'E_SKETCH_MISMATCH');
  });

  test('addN(v, n) is n adds', () => {
    const a = new DDSketch();
    a.addN(-2.5, 3);
    a.addN(0, 2);
    a.addN(1e9, 4);
    assert.deepEqual(a.toState(), sketchOf([-2.5, -2.5, -2.5, 0, 0, 1e9, 1e9, 1e9, 1e9]).toState());
    for (const n of [-1, 1.5, NaN]) throwsCode(() => a.addN(1, n), 'E_SKETCH_ARGUMENT');
  });

  test('state round-trips exactly through JSON and CBOR and behaves the same afterwards', () => {
    fc.assert(
      fc.property(values, values, fc.constantFrom(2048, 8), (xs, ys, b) => {
        const s = sketchOf(xs, { maxBins: b });
        const st = s.toState();
        for (const copy of [JSON.parse(JSON.stringify(st)) as DDSketchState, decode(encode(st)) as DDSketchState]) {
          const r = DDSketch.fromState(copy);
          assert.deepEqual(r.toState(), st);
          const s2 = s.clone();
          for (const y of ys) assert.equal(r.add(y), s2.add(y));
          assert.deepEqual(r.toState(), s2.toState());
          for (const q of FIXED_QS) assert.equal(r.quantile(q), s2.quantile(q));
        }
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('clone is independent', () => {
    const s = sketchOf([1, 2, 3]);
    const c = s.clone();
    c.add(1000);
    assert.equal(s.count, 3);
    assert.equal(s.max, 3);
    assert.equal(c.max, 1000);
  });

  test('collapsing keeps the high quantiles of positive values accurate and the bins bounded', () => {
    const xs = Array.from({ length: 10_000 }, (_, i) => 10 ** (-6 + (12 * i) / 9_999)); // 1e-6 .. 1e6
    const s = sketchOf(xs, { maxBins: 200 });
    const st = s.toState();
    assert.equal(s.collapsed, true);
    assert.equal(st.posCollapsed, 1);
    assert.equal(st.posCounts.length, 200);
    assert.ok(s.byteSize() <= 96 + 64 + 200 * 8 + 64, `byteSize ${s.byteSize()}`);
    // 200 bins at α = 1% span a factor γ^200 ≈ 54.6: values above ~1e6/54.6 keep their accuracy.
    for (const q of [0.9, 0.95, 0.99]) assertWithin(s.quantile(q)!, exactQuantile(xs, q), 0.01, `q=${q}`);
    assert.ok(s.quantile(0.5)! > exactQuantile(xs, 0.5) * 100, 'the folded bin answers with its own value');
  });

  test('byteSize grows with the range of values, not their number', () => {
    const small = new DDSketch();
    const base = small.byteSize();
    for (let i = 0; i < 100_000; i++) small.add(20 + (i % 100) / 100);
    assert.ok(small.byteSize() < base + 1024, `byteSize ${small.byteSize()}`);
    const wide = sketchOf(Array.from({ length: 1000 }, (_, i) => 1.5 ** (i % 200)));
    assert.ok(wide.byteSize() > small.byteSize());
  });

  describe('fromState refuses malformed input', () => {
    const good = sketchOf([-4, -1, 0, 2, 3, 3, 50]).toState();
    const cases: [string, unknown][] = [
      ['null', null],
      ['array', []],
      ['string', 'x'],
      ['wrong version', { ...good, version: 2 }],
      ['α out of range', { ...good, relativeAccuracy: 1.5 }],
      ['maxBins fractional', { ...good, maxBins: 10.5 }],
      ['count not a number', { ...good, count: '7' }],
      ['count not the sum', { ...good, count: 8 }],
      ['negative bin count', { ...good, posCounts: [-1, ...good.posCounts.slice(1)], count: good.count - good.posCounts[0]! - 1 }],
      ['fractional bin count', { ...good, posCounts: [0.5, ...good.posCounts.slice(1)] }],
      ['untrimmed counts', { ...good, posCounts: [0, ...good.posCounts], posOffset: good.posOffset - 1 }],
      ['counts not an array', { ...good, negCounts: { 0: 1 } }],
      ['more counts than maxBins', { ...good, maxBins: 2 }],
      ['offset out of range', { ...good, posOffset: 1e9 }],
      ['min above max', { ...good, min: 60, max: 50 }],
      ['min not in the lowest bin', { ...good, min: -40 }],
      ['max not in the highest bin', { ...good, max: 500 }],
      ['min Infinity', { ...good, min: -Infinity }],
      ['max NaN', { ...good, max: NaN }],
      ['collapsed flag 2', { ...good, posCollapsed: 2 }],
      ['empty store with collapsed flag', { ...sketchOf([1]).toState(), negCollapsed: 1 }],
      ['empty sketch with min', { ...new DDSketch().toState(), min: 1 }],
      ['missing field', (({ zeroCount: _z, ...rest }) => rest)(good)],
    ];
    for (const [name, st] of cases) {
      test(name, () => throwsCode(() => DDSketch.fromState(st as DDSketchState), 'E_SKETCH_STATE'));
    }
    test('the unmodified state is accepted', () => assert.deepEqual(DDSketch.fromState(good).toState(), good));
  });
});
