import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noise, T0 } from '../../anomaly/test-series.ts';
import { simBench } from './sim-bench.ts';

/**
 * A hand-made recording in firmware-sim's record format: one env-sensor
 * temperature series (5 s interval, valid range −40..85) with a spike at
 * sample 300, a stuck sensor over 400..429 and a dropout over 500..519.
 */
test('sim bench: recall per fault kind and precision per detector on a hand-made recording', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-sim-bench-'));
  try {
    const ts = (i: number): number => T0 + i * 5000;
    const lines: string[] = [];
    let prev = 0;
    for (let i = 0; i < 600; i++) {
      if (i >= 500 && i < 520) continue;
      let v = 21 + noise(i);
      if (i === 300) v += 10;
      if (i >= 400 && i < 430) v = prev;
      prev = v;
      lines.push(JSON.stringify({ deviceId: 'env-0001', metric: 'temperature', value: v, ts: ts(i), arrival: ts(i) + 100 }));
    }
    const label = (a: number, b: number, kind: string): string => JSON.stringify({ deviceId: 'env-0001', metric: 'temperature', start: ts(a), end: ts(b), kind });
    writeFileSync(join(dir, 'rec.ndjson'), `${lines.join('\n')}\n`);
    writeFileSync(join(dir, 'rec.labels.ndjson'), `${[label(300, 300, 'spike'), label(400, 429, 'stuck'), label(500, 519, 'dropout')].join('\n')}\n`);

    const r = await simBench(join(dir, 'rec.ndjson'));
    assert.equal(r.readings, 580);
    assert.equal(r.series, 1);
    assert.deepEqual(r.faults, { dropout: 1, spike: 1, stuck: 1 });
    const pick = (fk: string): number[] => ['out-of-range', 'rate-of-change', 'flatline', 'dropout', 'any device-health'].map((d) => r.recall[fk]![d]!);
    assert.deepEqual(pick('spike'), [0, 1, 0, 0, 1]); // +10 in one step is over 2% of the range (2.5)
    assert.deepEqual(pick('stuck'), [0, 0, 1, 0, 1]);
    assert.deepEqual(pick('dropout'), [0, 0, 0, 1, 1]);
    // the spike is two alerts (up and back down, both inside the label's grace); one flatline; one silence
    assert.deepEqual(r.precision['rate-of-change'], { alerts: 2, precision: 1 });
    assert.deepEqual(r.precision.flatline, { alerts: 1, precision: 1 });
    assert.deepEqual(r.precision.dropout, { alerts: 1, precision: 1 });
    assert.equal(r.precision['out-of-range']!.alerts, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
