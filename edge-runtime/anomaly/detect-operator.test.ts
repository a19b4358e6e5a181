import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode } from 'cbor-x';
import { parsePipelineFile } from '../pipeline/parse.ts';
import { compilePipeline } from '../pipeline/compile.ts';
import type { AnomalyRecord, PipelineOutput } from '../engine/outputs.ts';
import type { SourceRecord } from '../engine/types.ts';
import { T, rd, tick } from '../engine/test-helpers.ts';
import { MemoryColdStore } from '../engine/keyed-state.ts';

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

  test('spilling series to the cold store changes nothing: same anomalies, same order, same state, through a restore', () => {
    const [plan] = parsePipelineFile(`
name: fleet
watermark: { maxOutOfOrder: 1s }
detect:
  - { kind: out-of-range, min: 0, max: 50 }
  - { kind: ewma-z }
  - { kind: dropout, intervalMs: 1000, factor: 3 }
`);
    // 120 devices every second; device i goes silent after 20 + i % 50 s and comes back 15 s later; spikes now and then.
    const recs: SourceRecord[] = [];
    for (let sec = 0; sec < 90; sec++) {
      const t = T + sec * 1000;
      for (let i = 0; i < 120; i++) {
        const off = 20 + (i % 50);
        if (sec >= off && sec < off + 15) continue;
        recs.push(rd(`d${i}`, t, (sec * 7 + i) % 97 === 0 ? 99 : 20 + ((sec * 13 + i * 7) % 10) / 10, t + (i % 3)));
      }
      recs.push(tick(t + 500));
    }
    const run = (spill: 'none' | 'all' | 'half', restoreAt?: number): { outs: AnomalyRecord[]; state: unknown; spilledMax: number } => {
      let c = compilePipeline(plan!);
      let cold = new MemoryColdStore();
      c.detect!.attachColdStore(cold);
      const outs: AnomalyRecord[] = [];
      const rows = new Map<string, unknown>();
      let spilledMax = 0;
      for (let at = 0; at < recs.length; at += 97) {
        if (restoreAt !== undefined && at >= restoreAt && at < restoreAt + 97) {
          // A checkpoint (the rows drained so far) restored into a new pipeline with an empty cold store.
          for (const [k, v] of c.detect!.drainDelta().upserts) rows.set(k, decode(encode(v)));
          const wm = decode(encode(c.watermark.snapshot()));
          c = compilePipeline(plan!);
          cold = new MemoryColdStore();
          c.detect!.attachColdStore(cold);
          c.detect!.beginRestore();
          for (const [k, v] of rows) c.detect!.restoreRow(k, v);
          c.watermark.restore(wm);
        }
        outs.push(...anomalies(c.runner.push(recs.slice(at, at + 97))));
        if (spill !== 'none') c.detect!.evict(spill === 'all' ? Number.MAX_SAFE_INTEGER : c.detect!.memoryBytes() / 2);
        spilledMax = Math.max(spilledMax, c.detect!.spilledRows());
        // Checkpoint rows as the runtime takes them, so a restore sees every change.
        if (restoreAt !== undefined) for (const [k, v] of c.detect!.drainDelta().upserts) rows.set(k, decode(encode(v)));
      }
      return { outs, state: decode(encode(c.detect!.snapshot())), spilledMax };
    };
    const base = run('none');
    assert.ok(base.outs.some((a) => a.detector === 'dropout') && base.outs.some((a) => a.detector === 'out-of-range'), 'the stream has silences and spikes');
    for (const mode of ['all', 'half'] as const) {
      const r = run(mode);
      assert.ok(r.spilledMax > 60, `${mode}: series were spilled (${r.spilledMax})`);
      assert.deepEqual(r.outs, base.outs, `${mode}: same anomalies in the same order`);
      assert.deepEqual(r.state, base.state, `${mode}: same state`);
    }
    const restored = run('all', 97 * 40);
    assert.deepEqual(restored.outs, base.outs, 'spilled, checkpointed and restored mid-stream: the same anomalies');
  });
});
