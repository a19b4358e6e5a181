import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetector } from './create-detector.ts';
import { flagged, periodic, scenario, T0, type Scenario } from './test-series.ts';

/**
 * Every detector on the constructed series of test-series.ts (anomaly from
 * reading 200, or 2,000 for novelty): which readings raise an alert, exactly.
 */

type Table = Record<Scenario, number[] | null>; // null: scenario not applicable

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const CASES: { spec: Record<string, unknown>; expect: Table; series?: typeof scenario }[] = [
  {
    spec: { kind: 'out-of-range', min: 10, max: 30 },
    // the drift crosses 30 only at its very end, where 0.05·(i−200) + noise > 10
    expect: { normal: [], spike: [200], shift: [], drift: [395, 396], flatline: [], dropout: [] },
  },
  {
    spec: { kind: 'rate-of-change', maxRatePerSec: 2 },
    // the spike is a jump up and a jump back down; the noise moves at most 1.2/s
    expect: { normal: [], spike: [200, 201], shift: [200], drift: [], flatline: [], dropout: [] },
  },
  {
    spec: { kind: 'flatline' },
    // readings 200..229 are all 21.3: the 10th of them completes a flatline, alerted once
    expect: { normal: [], spike: [], shift: [], drift: [], flatline: [209], dropout: [] },
  },
  {
    spec: { kind: 'ewma-z' },
    // the +8 shift stays above 4σ until the winsorised mean has caught up a little
    expect: { normal: [], spike: [200], shift: range(200, 206), drift: [], flatline: [], dropout: [] },
  },
  {
    spec: { kind: 'robust-mad' },
    // the shift is flagged until 32 shifted readings move the median of the 64-reading window
    expect: { normal: [], spike: [200], shift: range(200, 227), drift: [], flatline: [], dropout: [] },
  },
  {
    spec: { kind: 'novelty' },
    series: periodic,
    // spike: outside everything seen (spatial); shift to a smaller swing and a flat stretch: novel sequences
    // within 30 readings; drift: the range is left again and again as the level climbs
    expect: { normal: [], spike: [2000], shift: [2030], drift: [2086, 2215, 2318, 2464, 2614, 2816, 2968], flatline: [2030], dropout: null },
  },
];

describe('detectors on constructed series', () => {
  for (const c of CASES) {
    for (const [kind, want] of Object.entries(c.expect) as [Scenario, number[] | null][]) {
      if (want === null) continue;
      test(`${c.spec.kind} / ${kind}`, () => {
        const d = createDetector(c.spec);
        const s = (c.series ?? scenario)(kind);
        assert.deepEqual(flagged((t, v) => d.update(t, v), s), want);
      });
    }
  }

  test('dropout / dropout: one alert at the first tick past 3 intervals of silence', () => {
    const d = createDetector({ kind: 'dropout', intervalMs: 1000 });
    const s = scenario('dropout');
    const alerts: number[] = [];
    let next = 0;
    for (let k = 0; k < 400; k++) {
      const pt = T0 + k * 1000;
      while (next < s.t.length && s.t[next]! <= pt) {
        assert.equal(d.update(s.t[next]!, s.v[next]!, s.t[next]!).anomaly, null);
        next++;
      }
      const v = d.onProcessingTime(pt + 500); // ticks half a second after each reading's slot
      if (v !== null) {
        assert.equal(v.anomaly?.observed, pt + 500 - (T0 + 199_000));
        alerts.push(k);
      }
    }
    // last reading at 199 s; ticks at k + 0.5 s; silence 3.5 s > 3 s first at k = 202
    assert.deepEqual(alerts, [202]);
  });

  test('dropout on the other scenarios: never silent while readings keep coming', () => {
    for (const kind of ['normal', 'spike', 'shift', 'drift', 'flatline'] as const) {
      const d = createDetector({ kind: 'dropout', intervalMs: 1000 });
      const s = scenario(kind);
      for (let i = 0; i < s.t.length; i++) {
        d.update(s.t[i]!, s.v[i]!);
        assert.equal(d.onProcessingTime(s.t[i]! + 2500), null, `${kind} at ${i}`);
      }
    }
  });
});
