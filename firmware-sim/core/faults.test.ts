import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricSpec } from '../../devices/index.ts';
import { DEFAULT_FAULT_WEIGHTS, FAULT_KINDS, FaultTrack } from './faults.ts';
import type { FaultKind } from './faults.ts';
import { Prng } from './prng.ts';

const SPEC: MetricSpec = { unit: 'Cel', range: [-40, 85], signal: { base: 20, noise: 0.2 } };
const only = (kind: FaultKind): Record<FaultKind, number> =>
  Object.fromEntries(FAULT_KINDS.map((k) => [k, k === kind ? 1 : 0])) as Record<FaultKind, number>;

test('no faults configured: values pass through', () => {
  const t = new FaultTrack(SPEC, new Prng(1), 1000, { perDay: 0, weights: DEFAULT_FAULT_WEIGHTS });
  for (let k = 0; k < 10_000; k++) assert.deepEqual(t.apply(k, 20, 20), { kind: 'value', value: 20 });
});

test('each kind changes exactly the samples it covers, in its own way', () => {
  for (const kind of FAULT_KINDS) {
    const t = new FaultTrack(SPEC, new Prng(3), 1000, { perDay: 200, weights: only(kind) });
    let seen = 0;
    let prev = 20;
    for (let k = 0; k < 20_000; k++) {
      const f = t.faultAt(k);
      const r = t.apply(k, 20, prev);
      if (f === null) {
        assert.deepEqual(r, { kind: 'value', value: 20 }, `${kind} k=${k}`);
        prev = 20;
        continue;
      }
      seen++;
      assert.equal(f.kind, kind);
      switch (kind) {
        case 'dropout': assert.equal(r.kind, 'drop'); break;
        case 'out_of_range': assert.ok(r.kind === 'value' && (r.value < -40 || r.value > 85), JSON.stringify(r)); break;
        case 'stuck': assert.ok(r.kind === 'value' && r.value === 20); break; // repeats the previous report
        default: assert.ok(r.kind === 'value' && r.value >= -40 && r.value <= 85 && (r.value !== 20 || kind === 'noise_burst'), `${kind} ${JSON.stringify(r)}`);
      }
      if (r.kind === 'value') prev = r.value;
    }
    assert.ok(seen > 0, `${kind} never happened`);
  }
});

test('faults never overlap or touch: at least one clean sample between two', () => {
  const t = new FaultTrack(SPEC, new Prng(9), 1000, { perDay: 2000, weights: DEFAULT_FAULT_WEIGHTS });
  let last: { k0: number; k1: number } | null = null;
  for (let k = 0; k < 50_000; k++) {
    const f = t.faultAt(k);
    if (f !== null && f !== last) {
      if (last !== null) assert.ok(f.k0 > last.k1, `${f.k0} after ${last.k1}`);
      last = f;
    }
  }
  assert.ok(last !== null);
});
