import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyLikelihood } from './anomaly-likelihood.ts';
import { erfc, normalTail } from './normal.ts';
import { StateReader } from './state-codec.ts';

const restoreFrom = (l: AnomalyLikelihood): AnomalyLikelihood => {
  const fresh = new AnomalyLikelihood();
  fresh.restore(new StateReader('lik', JSON.parse(JSON.stringify(l.snapshot())) as unknown));
  return fresh;
};

/** raw novelty: a half-blip every 37 readings, then novelty at 700 and 705, and a burst at 900..903. */
function raw(i: number): number {
  if (i === 700 || i === 705 || (i >= 900 && i < 904)) return 1;
  return i % 37 === 0 ? 0.5 : 0;
}

describe('AnomalyLikelihood', () => {
  test('erfc and the normal tail', () => {
    assert.ok(Math.abs(erfc(0) - 1) < 1.2e-7);
    assert.ok(Math.abs(erfc(1) - 0.157299207050285) < 1.2e-7 * 0.16);
    assert.ok(Math.abs(erfc(-1) - 1.842700792949715) < 1e-7);
    assert.ok(Math.abs(normalTail(1.959963985) - 0.025) < 1e-8);
    assert.ok(Math.abs(normalTail(4.264890794) - 1e-5) < 1e-11);
  });

  test('silent while learning, then one alarm per burst (red, then yellow)', () => {
    const l = new AnomalyLikelihood();
    const out = Array.from({ length: 1000 }, (_, i) => l.update(raw(i)));
    // the first 300 readings learn: log-likelihood of 0.5
    const learning = Math.log(1.0000000001 - 0.5) / Math.log(1.0 - 0.9999999999);
    assert.ok(out.slice(0, 300).every((s) => s === learning));
    const alarms = out.map((s, i) => (s >= 0.5 ? i : -1)).filter((i) => i >= 0);
    // one novel reading (700) moves the 10-reading average too little; with the regular half-blip at
    // 703 it reaches the red zone. The average stays red while 700..705 are in it, but consecutive red
    // readings are reported as yellow (1e-3 → 0.3). Two novel readings in a row (900, 901) alarm at once.
    assert.deepEqual(alarms, [703, 901]);
    const yellow = Math.log(1.0000000001 - 0.999) / Math.log(1.0 - 0.9999999999);
    for (const i of [704, 710, 902, 911]) assert.ok(Math.abs(out[i]! - yellow) < 1e-12, `yellow at ${i}`);
    assert.ok(out.every((s) => s >= 0 && s <= 1));
  });

  test('restore at every reading continues exactly', () => {
    const whole = new AnomalyLikelihood();
    const expected = Array.from({ length: 1000 }, (_, i) => whole.update(raw(i)));
    const l = new AnomalyLikelihood();
    for (let cut = 0; cut < 1000; cut++) {
      const r = restoreFrom(l);
      assert.ok(Object.is(r.update(raw(cut)), expected[cut]), `cut ${cut}`);
      l.update(raw(cut));
    }
  });
});
