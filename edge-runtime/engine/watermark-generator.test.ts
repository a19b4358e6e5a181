import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WatermarkGenerator, type WatermarkSpec } from './watermark-generator.ts';
import { MessageBuffer } from './operator.ts';
import type { Message, Reading, SourceRecord } from './types.ts';
import { T, rd, tick } from './test-helpers.ts';

/** Runs records through a generator; returns messages as compact strings: `d:<eventTimes>` / `w:<wm>`. */
function trace(spec: WatermarkSpec, recs: SourceRecord[]): string[] {
  const g = new WatermarkGenerator(spec);
  const buf = new MessageBuffer<Reading>();
  g.process(recs, buf);
  return buf.take().map((m: Message<Reading>) =>
    m.kind === 'data' ? `d:${m.items.map((r) => r.eventTime - T).join(',')}` : m.kind === 'watermark' ? `w:${m.watermark.time - T}` : m.kind);
}

describe('WatermarkGenerator', () => {
  const cases: { name: string; spec: WatermarkSpec; recs: SourceRecord[]; want: string[] }[] = [
    {
      name: 'in-order input: one watermark at the end of the batch',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
      recs: [rd('a', T + 1, 1), rd('a', T + 2, 1), rd('a', T + 3, 1)],
      want: ['d:1,2,3', 'w:3'],
    },
    {
      name: 'max out of order is subtracted',
      spec: { maxOutOfOrderMs: 5, idleTimeoutMs: 0, per: 'pipeline' },
      recs: [rd('a', T + 10, 1), rd('a', T + 20, 1)],
      want: ['d:10,20', 'w:15'],
    },
    {
      name: 'a reading older than the pending watermark flushes it first (exact lateness)',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
      recs: [rd('a', T + 10, 1), rd('a', T + 20, 1), rd('a', T + 15, 1), rd('a', T + 30, 1)],
      want: ['d:10,20', 'w:20', 'd:15,30', 'w:30'],
    },
    {
      name: 'the watermark never goes back',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
      recs: [rd('a', T + 50, 1), rd('a', T + 10, 1)],
      want: ['d:50', 'w:50', 'd:10'],
    },
    {
      name: 'per device: the minimum over devices holds the watermark back',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'device' },
      recs: [rd('b', T + 10, 1), rd('a', T + 100, 1), rd('b', T + 50, 1), rd('b', T + 200, 1)],
      want: ['d:10,100,50,200', 'w:100'],
    },
    {
      name: 'per device: a device first seen behind the watermark is late (the watermark does not go back)',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'device' },
      recs: [rd('a', T + 100, 1), rd('b', T + 10, 1), rd('b', T + 200, 1)],
      want: ['d:100', 'w:100', 'd:10,200'],
    },
    {
      name: 'per device: an idle device stops holding the watermark back',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 1000, per: 'device' },
      // b speaks at arrival T+10 then goes silent; at arrival T+1010 it is idle, a alone counts.
      recs: [rd('b', T + 10, 1, T + 10), rd('a', T + 500, 1, T + 20), rd('a', T + 600, 1, T + 1010), rd('a', T + 700, 1, T + 1020)],
      want: ['d:10,500,600,700', 'w:700'],
    },
    {
      name: 'all idle: event time runs on with processing time from the last active input',
      spec: { maxOutOfOrderMs: 100, idleTimeoutMs: 1000, per: 'pipeline' },
      recs: [rd('a', T + 500, 1, T + 600), tick(T + 1000), tick(T + 1600), tick(T + 5600)],
      // at 1600: idle; W = 500 + (1600 - 600) - 100 = 1400; at 5600: 500 + 5000 - 100 = 5400
      want: ['d:500', 'w:400', 'w:1400', 'w:5400'],
    },
    {
      name: 'ticks always emit the watermark (they carry processing time)',
      spec: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
      recs: [tick(T + 1), tick(T + 2)],
      want: [`w:${-Infinity}`, `w:${-Infinity}`],
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(trace(c.spec, c.recs), c.want));
  }

  test('idleness is decided by arrival (processing) time, never by event time', () => {
    // b's event times are far behind, but it keeps arriving: it is not idle.
    const spec: WatermarkSpec = { maxOutOfOrderMs: 0, idleTimeoutMs: 1000, per: 'device' };
    assert.deepEqual(trace(spec, [rd('b', T + 10, 1, T), rd('a', T + 5000, 1, T), rd('b', T + 20, 1, T + 900), rd('a', T + 6000, 1, T + 1500)]), ['d:10,5000,20,6000', 'w:20']);
  });

  test('snapshot and restore round-trip and continue identically', () => {
    const spec: WatermarkSpec = { maxOutOfOrderMs: 10, idleTimeoutMs: 1000, per: 'device' };
    const first = [rd('a', T + 100, 1, T), rd('b', T + 50, 1, T + 10), tick(T + 1500)];
    const rest = [rd('a', T + 300, 1, T + 1600), rd('c', T + 200, 1, T + 1700), tick(T + 4000)];
    const g1 = new WatermarkGenerator(spec);
    const b1 = new MessageBuffer<Reading>();
    g1.process(first, b1);
    const snap = structuredClone(g1.snapshot());
    b1.take();
    g1.process(rest, b1);
    const want = b1.take();
    assert.ok(want.length >= 3);
    const g2 = new WatermarkGenerator(spec);
    g2.restore(snap);
    assert.deepEqual(g2.snapshot(), snap);
    const b2 = new MessageBuffer<Reading>();
    g2.process(rest, b2);
    assert.deepEqual(b2.take(), want);
  });

  test('finish emits a final +∞ watermark', () => {
    const g = new WatermarkGenerator({ maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' });
    const b = new MessageBuffer<Reading>();
    g.finish(b);
    assert.deepEqual(b.take(), [{ kind: 'watermark', watermark: { time: Infinity, processingTime: -Infinity } }]);
  });

  test('restore refuses a state of another kind or version', () => {
    const g = new WatermarkGenerator({ maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' });
    assert.throws(() => g.restore({ name: 'watermark-generator', version: 99, data: g.snapshot().data }), { code: 'E_STATE_VERSION' });
  });
});
