import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FRESHNESS_WINDOW_MS, ObserveOrder, isNewerNotification } from './observe-order.ts';

const MAX = 2 ** 24 - 1;
const HALF = 2 ** 23;

describe('RFC 7641 §3.4: isNewerNotification(V1, T1, V2, T2)', () => {
  const cases: [string, number, number, number, number, boolean][] = [
    ['next number', 5, 0, 6, 0, true],
    ['same number', 5, 0, 5, 0, false],
    ['older number', 6, 0, 5, 0, false],
    ['ahead by 2^23 − 1', 0, 0, HALF - 1, 0, true],
    ['ahead by exactly 2^23: not newer', 0, 0, HALF, 0, false],
    ['wrapped: V1 = 2^24 − 1, V2 = 0', MAX, 0, 0, 0, true],
    ['wrapped: V1 − V2 = 2^23 + 1', HALF + 1, 0, 0, 0, true],
    ['behind by exactly 2^23: not newer', HALF, 0, 0, 0, false],
    ['from before the wrap', 1, 0, MAX - 1, 0, false],
    ['older number, exactly 128 s later: not yet', 6, 1000, 5, 1000 + FRESHNESS_WINDOW_MS, false],
    ['older number, 128 s + 1 ms later: fresh', 6, 1000, 5, 1001 + FRESHNESS_WINDOW_MS, true],
    ['same number, long after: fresh', 6, 0, 6, 10 * FRESHNESS_WINDOW_MS, true],
  ];
  for (const [name, v1, t1, v2, t2, want] of cases) {
    test(name, () => assert.equal(isNewerNotification(v1, t1, v2, t2), want));
  }
});

describe('ObserveOrder: one registration', () => {
  test('takes the first, then only fresher ones; stale ones do not move the reference', () => {
    const o = new ObserveOrder();
    const steps: [number, number, string][] = [
      [100, 0, 'first'],
      [99, 10, 'stale'],
      [101, 20, 'newer'],
      [101, 30, 'stale'],
      [MAX, 40, 'stale'], // 2^24 − 1 − 101 > 2^23: behind, not ahead
      [102, 50, 'newer'],
      [50, 50 + FRESHNESS_WINDOW_MS, 'stale'], // measured from T1 = 50: exactly 128 s
      [50, 51 + FRESHNESS_WINDOW_MS, 'newer'],
      [51, 52 + FRESHNESS_WINDOW_MS, 'newer'],
    ];
    assert.deepEqual(steps.map(([v, t]) => o.check(v, t)), steps.map((s) => s[2]));
    assert.equal(o.lastObserve, 51);
  });
});
