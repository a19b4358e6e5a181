import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode } from 'cbor-x';
import { parsePipelineFile } from '../pipeline/parse.ts';
import { compilePipeline } from '../pipeline/compile.ts';
import type { AnomalyRecord, PipelineOutput } from '../engine/outputs.ts';
import type { SourceRecord } from '../engine/types.ts';
import { T, rd, tick } from '../engine/test-helpers.ts';

const FILE = `
name: watch
watermark: { maxOutOfOrder: 1s }
detect:
  - { kind: out-of-range, min: 0, max: 50 }
  - { kind: dropout, intervalMs: 1000, factor: 3 }
`;

/** Two devices every second; d2 spikes at 20 s and goes silent after 30 s; ticks every second. */
function stream(): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (let s = 0; s < 60; s++) {
    const t = T + s * 1000;
    out.push(rd('d1', t, 20 + (s % 3), t));
    if (s < 30) out.push(rd('d2', t, s === 20 ? 99 : 21, t));
    out.push(tick(t + 500));
  }
  return out;
}

const anomalies = (outs: PipelineOutput[]): AnomalyRecord[] => outs.filter((o): o is AnomalyRecord => o.type === 'anomaly');

describe('detect pipelines', () => {
  test('flags the spike with its reason and the silence once, at a tick', () => {
    const [plan] = parsePipelineFile(FILE);
    const c = compilePipeline(plan!);
    const outs = [...c.runner.push(stream()), ...c.runner.end()];
    const a = anomalies(outs).map((x) => [x.key.deviceId, x.detector, x.eventTime - T, x.observed, x.score]);
    assert.deepEqual(a, [
      ['d2', 'out-of-range', 20_000, 99, 1],
      ['d2', 'dropout', 32_500, 3500, 1], // first tick with more than 3 × 1 s of silence
    ]);
    const spike = anomalies(outs)[0]!;
    assert.equal(spike.metric, 'm');
    assert.deepEqual(spike.expected, [0, 50]);
    assert.match(spike.reason, /above/);
  });

  test('restored from incremental rows mid-stream, it continues exactly as uninterrupted', () => {
    const [plan] = parsePipelineFile(FILE);
    const recs = stream();
    const whole = (() => {
      const c = compilePipeline(plan!);
      return [...c.runner.push(recs), ...c.runner.end()];
    })();
    for (const cut of [1, 40, 61, 100, 150]) {
      const a = compilePipeline(plan!);
      const first = a.runner.push(recs.slice(0, cut));
      const rows = a.detect!.drainDelta().upserts.map(([k, v]) => [k, decode(encode(v))] as const);
      const gen = decode(encode(a.watermark.snapshot()));
      const b = compilePipeline(plan!);
      b.detect!.beginRestore();
      for (const [k, v] of rows) b.detect!.restoreRow(k, v);
      b.watermark.restore(gen);
      assert.deepEqual([...first, ...b.runner.push(recs.slice(cut)), ...b.runner.end()], whole, `cut at ${cut}`);
    }
  });

  test('a pipeline either windows or detects; detector errors name the field', () => {
    assert.throws(() => parsePipelineFile('name: x\ndetect: [novelty]\nwindow: { type: count, size: 2 }\naggregates: [count]'), { code: 'E_CONFIG', field: '[0].detect' });
    assert.throws(() => parsePipelineFile('name: x\ndetect: [wizard]'), { code: 'E_CONFIG', field: '[0].detect[0].kind' });
    assert.throws(() => parsePipelineFile('name: x\ndetect: []'), { code: 'E_CONFIG', field: '[0].detect' });
  });

  test('refusing new series (refuse-new-keys over budget): held series keep detecting, new ones are refused and counted', () => {
    const [plan] = parsePipelineFile(FILE);
    const c = compilePipeline(plan!);
    const d = c.detect!;
    c.runner.push([rd('d1', T, 20), rd('d2', T, 21)]);
    d.setRefusing(true);
    const outs = c.runner.push([rd('d1', T + 1000, 99), rd('d3', T + 1000, 99), rd('d3', T + 2000, 98)]);
    assert.deepEqual(anomalies(outs).map((a) => a.key.deviceId), ['d1'], 'the held series still flags its spike; the new one is not held');
    assert.equal(d.refusedReadings(), 2);
    assert.equal(d.counters.series, 2);
    d.setRefusing(false);
    const later = c.runner.push([rd('d3', T + 3000, 97)]);
    assert.deepEqual(anomalies(later).map((a) => a.key.deviceId), ['d3'], 'taken again once under the budget');
    assert.equal(d.counters.series, 3);
  });
});
