import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetector } from './create-detector.ts';
import { flagged, periodic, T0 } from './test-series.ts';

describe('novelty', () => {
  test('nothing is scored during the warm-up, nor while the series has been constant', () => {
    const d = createDetector({ kind: 'novelty', warmup: 20 });
    for (let i = 0; i < 500; i++) assert.equal(d.update(i, 7).score, 0, `constant at ${i}`);
    // the first change fixes the grid (the warm-up range was empty); it is not scored either
    assert.equal(d.update(500, 8).score, 0);
  });

  test('a value outside everything seen by more than the tolerance scores 1 at once', () => {
    const d = createDetector({ kind: 'novelty', warmup: 20, spatialTolerance: 0.1 });
    for (let i = 0; i < 100; i++) d.update(i, i % 10); // range 0..9
    assert.equal(d.update(100, 9.9).score < 0.5, true, 'within 10% of the range');
    const v = d.update(101, 11);
    assert.equal(v.score, 1);
    assert.deepEqual(v.anomaly, {
      detector: 'novelty',
      reason: 'value 11 is outside everything seen so far [0, 9.9] by more than 10% of that range',
      expected: [0, 9.9],
      observed: 11,
    });
  });

  test('after an alert, scores are halved for `suppress` readings', () => {
    const run = (suppress: number): number[] => {
      const d = createDetector({ kind: 'novelty', warmup: 20, suppress });
      const out: number[] = [];
      for (let i = 0; i < 100; i++) d.update(i, i % 10);
      out.push(d.update(100, 20).score, d.update(101, 30).score, d.update(102, 40).score);
      for (let i = 0; i < 5; i++) d.update(103 + i, i);
      out.push(d.update(108, 50).score);
      return out;
    };
    assert.deepEqual(run(0), [1, 1, 1, 1]);
    assert.deepEqual(run(3), [1, 0.5, 0.5, 1]); // 101 and 102 are within 3 readings of the alert at 100; 108 is not
  });

  test('time plays no part: shuffled, repeated and backward timestamps give the same scores', () => {
    const s = periodic('shift');
    const a = createDetector({ kind: 'novelty' });
    const b = createDetector({ kind: 'novelty' });
    for (let i = 0; i < s.v.length; i++) {
      const weird = i % 5 === 0 ? T0 : i % 7 === 0 ? s.t[i]! - 1e9 : s.t[i]!;
      assert.ok(Object.is(a.update(s.t[i]!, s.v[i]!).score, b.update(weird, s.v[i]!).score), `at ${i}`);
    }
  });

  test('a periodic series with no anomaly raises no alert after its warm-up, over 20,000 readings', () => {
    const d = createDetector({ kind: 'novelty' });
    assert.deepEqual(flagged((t, v) => d.update(t, v), periodic('normal', 20_000)), []);
    assert.ok(d.stateBytes() <= 4096);
  });
});
