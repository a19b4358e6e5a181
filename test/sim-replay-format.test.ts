/**
 * Record mode writes exactly weir's replay input: every line the simulator
 * records parses with the runtime's own NDJSON reader into the reading the
 * line describes (event time = ts, arrival time = arrival).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNdjsonLine } from '../edge-runtime/replay/input.ts';
import { BUILTIN_PROFILES } from '../devices/index.ts';
import { defaultConfig } from '../firmware-sim/core/sim-config.ts';
import { MemoryLines } from '../firmware-sim/record/ndjson-file.ts';
import { runRecord } from '../firmware-sim/record/record-run.ts';

test('every recorded line is a valid replay record with ts as event time and arrival as arrival time', () => {
  const lines = new MemoryLines();
  const fleet = BUILTIN_PROFILES.map((profile) => ({ profile, count: 2 }));
  runRecord(defaultConfig(fleet, { seed: 13, durationMs: 600_000, badRate: 0.05 }), lines, new MemoryLines());
  assert.ok(lines.lines.length > 1000);
  lines.lines.forEach((text, i) => {
    const want = JSON.parse(text) as { deviceId: string; metric: string; value: number; ts: number; arrival: number };
    assert.deepEqual(parseNdjsonLine(text, i + 1), [
      { type: 'reading', reading: { deviceId: want.deviceId, metric: want.metric, value: want.value, eventTime: want.ts, arrivalTime: want.arrival } },
    ]);
  });
});
