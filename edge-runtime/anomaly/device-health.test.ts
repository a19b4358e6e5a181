import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetector } from './create-detector.ts';
import { toAnomalyEvent, type Verdict } from './detector.ts';

/** Edge cases of the device-health detectors, beyond the constructed scenarios. */

const scores = (vs: Verdict[]): number[] => vs.map((v) => v.score);

describe('out-of-range', () => {
  test('one-sided bounds, inclusive edges, non-finite values', () => {
    const d = createDetector({ kind: 'out-of-range', min: 0 });
    assert.deepEqual(scores([0, -0.001, 1e300, Number.NaN, Number.NEGATIVE_INFINITY].map((v) => d.update(0, v))), [0, 1, 0, 1, 1]);
    const v = d.update(0, -2);
    assert.deepEqual(v.anomaly, { detector: 'out-of-range', reason: 'value -2 is below the minimum 0', expected: 0, observed: -2 });
    assert.equal(d.update(0, Number.NaN).anomaly?.reason, 'value NaN is not a finite number');
  });
});

describe('rate-of-change', () => {
  test('score r/(1+r) of the allowed change; repeated and backward times use maxStep only', () => {
    const d = createDetector({ kind: 'rate-of-change', maxRatePerSec: 1, maxStep: 10 });
    const out = [
      d.update(0, 0), // baseline
      d.update(2000, 1), // 1 in 2 s: r = 0.5
      d.update(3000, 3), // 2 in 1 s: r = 2
      d.update(3000, 8), // same time: step 5 of 10, r = 0.5
      d.update(1000, 20), // backward: step 12 of 10 → r = 1.2; does not become the baseline
      d.update(4000, 9), // against 8 at 3000 (not 20): 1 in 1 s: r = 1 → exactly 0.5
    ];
    assert.deepEqual(scores(out), [0, 1 / 3, 2 / 3, 1 / 3, 1.2 / 2.2, 0.5]);
    assert.deepEqual(out.map((v) => v.anomaly !== null), [false, false, true, false, true, true]);
    assert.equal(out[2]!.anomaly?.reason, 'value rose by 2 in 1 s (2/s; limit 1/s, 10 per step)');
    assert.deepEqual(out[2]!.anomaly?.expected, [0, 2]);
    assert.equal(out[4]!.anomaly?.reason, 'value rose by 12 in one step (limit 10)');
  });

  test('a long gap allows a large change; non-finite values and times are skipped', () => {
    const d = createDetector({ kind: 'rate-of-change', maxRatePerSec: 1 });
    d.update(0, 0);
    assert.equal(d.update(Number.NaN, 100).score, 0); // no time, no maxStep: nothing to check against, not the baseline
    assert.equal(d.update(1000, Number.NaN).score, 0);
    assert.equal(d.update(3_600_000, 3000).anomaly, null); // 3000 in an hour
    assert.equal(d.update(3_601_000, 3002).anomaly?.observed, 3002);
  });
});

describe('flatline', () => {
  test('tolerance and minimum duration', () => {
    const d = createDetector({ kind: 'flatline', count: 3, tolerance: 0.5, minDurationMs: 5000 });
    const vals = [10, 10.4, 9.6, 10.2, 10.5, 10.49, 12, 12, 12];
    const times = [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000];
    const out = vals.map((v, i) => d.update(times[i]!, v));
    // 3 within ±0.5 of 10 by 2 s, but the 5 s minimum is reached only at t = 5000; 12 starts a new run
    assert.deepEqual(scores(out), [0, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert.equal(out[5]!.anomaly?.reason, 'value stuck at 10 (±0.5) for 6 readings over 5000 ms');
  });

  test('one alert per flatline; every reading of it scores 1; backward times do not shorten it', () => {
    const d = createDetector({ kind: 'flatline', count: 3, minDurationMs: 2000 });
    const out = [[0, 5], [1000, 5], [500, 5], [2000, 5], [3000, 5], [4000, 6]].map(([t, v]) => d.update(t!, v!));
    assert.deepEqual(scores(out), [0, 0, 0, 1, 1, 0]);
    assert.deepEqual(out.map((v) => v.anomaly !== null), [false, false, false, true, false, false]);
  });
});

describe('dropout', () => {
  test('arrival time, not event time, measures silence; a reading ends it; one alert per silence', () => {
    const d = createDetector({ kind: 'dropout', intervalMs: 1000, factor: 3 });
    assert.equal(d.onProcessingTime(1e12), null, 'never heard from: not silent');
    d.update(5_000, 1, 100_000); // device clock far behind the gateway
    assert.equal(d.onProcessingTime(103_000), null);
    const alert = d.onProcessingTime(103_001);
    assert.deepEqual(alert, {
      score: 1,
      anomaly: { detector: 'dropout', reason: 'no reading for 3001 ms (expected one every 1000 ms; limit 3000 ms)', expected: 1000, observed: 3001 },
    });
    assert.equal(d.onProcessingTime(200_000), null, 'already alerted');
    d.update(6_000, Number.NaN, 200_500); // even a bad value shows the device is alive
    assert.equal(d.onProcessingTime(203_000), null);
    assert.equal(d.onProcessingTime(203_501)?.anomaly?.observed, 3001);
    d.update(0, 1, 150_000); // an older arrival time (a replayed straggler) neither moves the clock back nor ends the silence
    assert.equal(d.onProcessingTime(300_000), null, 'still the same silence, already alerted');
    d.update(0, 1, 300_000);
    assert.equal(d.onProcessingTime(303_000), null);
    assert.equal(d.onProcessingTime(303_001)?.anomaly?.observed, 3001);
  });
});

describe('toAnomalyEvent', () => {
  test('adds series and event time to a flagged verdict, nothing otherwise', () => {
    const d = createDetector({ kind: 'out-of-range', min: 0, max: 1 });
    const series = { deviceId: 'env-0001', metric: 'humidity' };
    assert.equal(toAnomalyEvent(series, 5, d.update(5, 0.5)), null);
    assert.deepEqual(toAnomalyEvent(series, 7, d.update(7, 2)), {
      type: 'anomaly', series, eventTime: 7, score: 1, detector: 'out-of-range',
      reason: 'value 2 is above the valid range [0, 1]', observed: 2, expected: [0, 1],
    });
  });
});
