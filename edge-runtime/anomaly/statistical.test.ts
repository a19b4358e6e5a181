import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createDetector } from './create-detector.ts';
import { zScore } from './ewma-z.ts';

describe('ewma-z', () => {
  test('the score is z²/(z²+t²): exactly 0.5 at the threshold', () => {
    assert.equal(zScore(4, 4), 0.5);
    assert.equal(zScore(0, 4), 0);
    assert.equal(zScore(Number.POSITIVE_INFINITY, 4), 1);
    assert.equal(zScore(8, 4), 0.8);
  });

  test('mean and variance follow the EWMA recurrences; warm-up readings are not scored', () => {
    const warm = (): ReturnType<typeof createDetector> => {
      const d = createDetector({ kind: 'ewma-z', alpha: 0.5, threshold: 2, warmup: 3 });
      // mean/var: 10 → (10, 0); 12 → (11, 1); 10 → (10.5, 0.75); scored from the 4th reading
      assert.deepEqual([10, 12, 10].map((x) => d.update(0, x).score), [0, 0, 0]);
      return d;
    };
    const sd = Math.sqrt(0.75);
    assert.ok(Math.abs(warm().update(0, 10.5 + 2 * sd).score - 0.5) < 1e-12, '2σ above the mean');
    const v = warm().update(0, 10.5 - 4 * sd);
    assert.ok(Math.abs(v.score - 0.8) < 1e-12, '4σ below: 16/(16+4)');
    assert.deepEqual(v.anomaly?.expected, [10.5 - 2 * sd, 10.5 + 2 * sd]);
  });

  test('after a flat stretch σ is floored at 0.3 × the long-run σ: an ordinary wiggle is not an alert', () => {
    const d = createDetector({ kind: 'ewma-z' });
    for (let i = 0; i < 400; i++) d.update(i, 10 + (i % 2) * 2); // σ ≈ 1
    for (let i = 0; i < 300; i++) d.update(i, 11); // short-run σ decays by 0.95^300 ≈ 2e-7, the long-run one by 0.995^300 ≈ 0.22
    const v = d.update(0, 11.5); // without the floor: ≈ 10⁴ σ; with it: 0.5 / (0.3 · 0.47) ≈ 3.6 σ
    assert.equal(v.anomaly, null);
    assert.ok(v.score > 0.4 && v.score < 0.5, `score ${v.score}`);
    assert.ok(d.update(0, 20).anomaly !== null, 'a real jump still is');
  });

  test('a single huge spike is winsorised: the next normal reading is not flagged', () => {
    const d = createDetector({ kind: 'ewma-z' });
    for (let i = 0; i < 100; i++) d.update(i, 10 + (i % 2));
    assert.ok(d.update(100, 1e6).anomaly !== null);
    assert.equal(d.update(101, 11).anomaly, null);
  });
});

/** Brute-force median and MAD of a window, the textbook way. */
function bruteMad(xs: number[]): { med: number; mad: number } {
  const med = (a: number[]): number => {
    const s = [...a].sort((x, y) => x - y);
    const h = s.length >> 1;
    return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
  };
  const m = med(xs);
  return { med: m, mad: med(xs.map((x) => Math.abs(x - m))) };
}

describe('robust-mad', () => {
  test('scores against the brute-force median and MAD of the last `window` readings (with the long-run floor)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 20, maxLength: 80 }),
        fc.integer({ min: 8, max: 16 }),
        (vals, window) => {
          const d = createDetector({ kind: 'robust-mad', window, warmup: 8, threshold: 3 });
          let longScale = 0; // the long-run floor: an EWMA (weight 0.01) of the window scale
          for (let i = 0; i < vals.length; i++) {
            const past = vals.slice(Math.max(0, i - window), i);
            const got = d.update(i, vals[i]!).score;
            if (past.length < 8) {
              assert.equal(got, 0);
              continue;
            }
            const { med, mad } = bruteMad(past);
            const meanAd = past.reduce((a, x) => a + Math.abs(x - med), 0) / past.length;
            const sigma = mad > 0 ? 1.4826 * mad : 1.253314 * meanAd;
            longScale = longScale === 0 ? sigma : longScale + 0.01 * (sigma - longScale);
            const scale = Math.max(sigma, 0.3 * longScale);
            const dev = Math.abs(vals[i]! - med);
            const z = scale > 0 ? dev / scale : dev === 0 ? 0 : Number.POSITIVE_INFINITY;
            const want = z === Number.POSITIVE_INFINITY ? 1 : (z * z) / (z * z + 9);
            assert.ok(Math.abs(got - want) < 1e-12, `at ${i}: ${got} vs ${want}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('minScale floors the scale of a flat window', () => {
    const d = createDetector({ kind: 'robust-mad', window: 8, warmup: 8, minScale: 0.5, threshold: 4 });
    for (let i = 0; i < 8; i++) d.update(i, 3);
    assert.equal(d.update(8, 5).score, 0.5); // |5 − 3| / 0.5 = 4
    const flat = createDetector({ kind: 'robust-mad', window: 8, warmup: 8 });
    for (let i = 0; i < 8; i++) flat.update(i, 3);
    assert.equal(flat.update(8, 3.000001).score, 1);
    assert.equal(flat.update(9, 3).score, 0);
  });
});
