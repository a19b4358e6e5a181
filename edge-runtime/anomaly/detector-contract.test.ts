import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from 'cbor-x';
import { isWeirError } from '../errors.ts';
import { createDetector } from './create-detector.ts';
import { DETECTOR_KINDS, FLAG_SCORE, type Detector, type DetectorState, type SeriesContext, type Verdict } from './detector.ts';
import { T0 } from './test-series.ts';

/**
 * The contract every detector kind meets (STYLE.md habit 7: one suite, every
 * implementation): sane verdicts on a messy stream, exact restart from a
 * snapshot after JSON or CBOR, plain-data state within 4 KB, refusal of
 * foreign state, and no poisoning by non-finite values.
 */

const CONFIGS: { spec: Record<string, unknown>; context?: SeriesContext }[] = [
  { spec: { kind: 'out-of-range', min: 10, max: 30 } },
  { spec: { kind: 'rate-of-change', maxRatePerSec: 2, maxStep: 5 } },
  { spec: { kind: 'flatline', count: 5, tolerance: 0.01 } },
  { spec: { kind: 'dropout' }, context: { expectedIntervalMs: 1000 } },
  { spec: { kind: 'ewma-z' } },
  { spec: { kind: 'robust-mad', window: 32 } },
  { spec: { kind: 'novelty', warmup: 50, suppress: 20 } },
];

type Step = { kind: 'reading'; t: number; v: number; arrival: number } | { kind: 'tick'; pt: number };

/**
 * 3,000 steps: a periodic signal with noise, spikes, flat stretches, level
 * shifts, non-finite values, repeated and backward timestamps, long gaps,
 * and processing-time ticks.
 */
function messyStream(withNonFinite: boolean): Step[] {
  let seed = 2024;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const out: Step[] = [];
  let t = T0;
  let level = 20;
  for (let i = 0; i < 3000; i++) {
    const r = rnd();
    if (r < 0.01) t += 3_600_000; // long gap
    else if (r < 0.03) t -= 5000; // backward
    else if (r > 0.98) t += 0; // repeated
    else t += 1000;
    if (rnd() < 0.002) level += 6 * (rnd() - 0.5);
    let v = level + 5 * Math.sin(i / 8) + rnd();
    if (rnd() < 0.01) v += (rnd() < 0.5 ? -1 : 1) * (15 + 15 * rnd());
    if (i % 500 >= 300 && i % 500 < 320) v = 22;
    const nonFinite = rnd() < 0.01;
    if (withNonFinite && nonFinite) out.push({ kind: 'reading', t, v: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][i % 3]!, arrival: t + 50 });
    out.push({ kind: 'reading', t, v, arrival: t + 50 });
    if (i % 7 === 0) out.push({ kind: 'tick', pt: t + 3500 });
  }
  return out;
}

const MESSY = messyStream(true);

function feed(d: Detector, steps: readonly Step[]): (Verdict | null)[] {
  return steps.map((s) => (s.kind === 'reading' ? d.update(s.t, s.v, s.arrival) : d.onProcessingTime(s.pt)));
}

const viaJson = (s: DetectorState): DetectorState => JSON.parse(JSON.stringify(s)) as DetectorState;
const viaCbor = (s: DetectorState): DetectorState => decode(encode(s)) as DetectorState;

function sameVerdicts(a: readonly (Verdict | null)[], b: readonly (Verdict | null)[], what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === null || y === null) {
      assert.equal(x, y, `${what} step ${i}`);
      continue;
    }
    assert.ok(Object.is(x.score, y.score), `${what} step ${i}: score ${x.score} vs ${y.score}`);
    assert.deepEqual(x.anomaly, y.anomaly, `${what} step ${i}`);
  }
}

function stateError(e: unknown): boolean {
  return isWeirError(e) && e.code === 'E_STATE_VERSION';
}

describe('detector contract', () => {
  test('the suite covers every kind', () => {
    assert.deepEqual(CONFIGS.map((c) => c.spec.kind).sort(), [...DETECTOR_KINDS].sort());
  });

  for (const { spec, context } of CONFIGS) {
    const make = (): Detector => createDetector(spec, context);
    describe(String(spec.kind), () => {
      test('verdicts on a messy stream are sane, and some readings are flagged', () => {
        const d = make();
        let flags = 0;
        feed(d, MESSY).forEach((v, i) => {
          if (v === null) return;
          assert.ok(v.score >= 0 && v.score <= 1, `score ${v.score} at ${i}`);
          if (v.anomaly !== null) {
            flags++;
            assert.equal(v.anomaly.detector, spec.kind);
            assert.ok(v.score >= FLAG_SCORE, `flagged with score ${v.score} at ${i}`);
            assert.ok(v.anomaly.reason.length > 10);
            assert.equal(typeof v.anomaly.observed, 'number');
          }
        });
        assert.ok(flags > 0, 'the messy stream has anomalies of every kind');
      });

      for (const [codec, roundTrip] of [['JSON', viaJson], ['CBOR', viaCbor]] as const) {
        test(`restart from a snapshot (${codec}) mid-series gives identical verdicts`, () => {
          const whole = make();
          const expected = feed(whole, MESSY);
          const cuts = [0, 1, MESSY.length];
          for (let c = 37; c < MESSY.length; c += 211) cuts.push(c);
          for (const cut of cuts) {
            const first = make();
            feed(first, MESSY.slice(0, cut));
            const restored = make();
            restored.restore(roundTrip(first.snapshot()));
            assert.deepEqual(restored.snapshot(), first.snapshot(), `snapshot round trip at ${cut}`);
            sameVerdicts(feed(restored, MESSY.slice(cut)), expected.slice(cut), `cut ${cut}`);
            assert.deepEqual(restored.snapshot(), whole.snapshot(), `final state after cut ${cut}`);
          }
        });
      }

      test('state is plain data, at most 4 KB', () => {
        const d = make();
        feed(d, MESSY);
        const s = d.snapshot();
        assert.deepEqual(viaJson(s), s);
        assert.equal(s.name, `detector.${String(spec.kind)}`);
        assert.ok(d.stateBytes() <= 4096, `stateBytes ${d.stateBytes()}`);
        assert.ok(d.stateBytes() > 0);
        assert.ok(JSON.stringify(s).length <= 8192, `snapshot JSON ${JSON.stringify(s).length} chars`);
      });

      test('refuses foreign or damaged state', () => {
        const d = make();
        feed(d, MESSY.slice(0, 500));
        const s = d.snapshot();
        const data = s.data as Record<string, unknown>;
        const bad: DetectorState[] = [
          { ...s, name: 'detector.other' },
          { ...s, version: s.version + 1 },
          { ...s, data: { ...data, spec: { ...(data.spec as object), extra: 1 } } },
          { ...s, data: null },
        ];
        const firstNumeric = Object.keys(data).find((k) => k !== 'spec');
        if (firstNumeric !== undefined) bad.push({ ...s, data: { ...data, [firstNumeric]: 'garbage' } });
        for (const b of bad) assert.throws(() => make().restore(b), stateError, JSON.stringify(b).slice(0, 80));
      });

      test('non-finite values never change what the finite readings get', () => {
        const clean = messyStream(false);
        const withBad = MESSY;
        const a = feed(make(), clean);
        const b = feed(make(), withBad).filter((_, i) => !(withBad[i]!.kind === 'reading' && !Number.isFinite((withBad[i] as { v: number }).v)));
        sameVerdicts(b, a, 'with vs without non-finite readings');
      });
    });
  }
});
