/**
 * Record mode is the ground truth everything downstream is scored against:
 * same seed → same bytes; labels explain exactly the readings that differ
 * from the fault-free run; link outages delay readings but never change them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_PROFILES, builtinProfile } from '../../devices/index.ts';
import type { DeviceProfile } from '../../devices/index.ts';
import { DEFAULT_FAULT_WEIGHTS } from '../core/faults.ts';
import type { FaultKind } from '../core/faults.ts';
import { NO_FAULTS } from '../core/fleet.ts';
import { DEFAULT_LINK, defaultConfig } from '../core/sim-config.ts';
import type { SimConfig } from '../core/sim-config.ts';
import { MemoryLines, NdjsonFile } from './ndjson-file.ts';
import { labelsPathFor, runRecord } from './record-run.ts';

interface Line { deviceId: string; metric: string; value: number; ts: number; arrival: number }
interface LabelLine { deviceId: string; metric: string; start: number; end: number; kind: FaultKind }

const profile = (n: string): DeviceProfile => builtinProfile(n) as DeviceProfile;
const FLEET = BUILTIN_PROFILES.filter((p) => p.name !== 'cold-room').map((p) => ({ profile: p, count: 2 }));
const QUIET_LINK = { ...DEFAULT_LINK, outagesPerDay: 0 };

function record(c: SimConfig): { readings: Line[]; labels: LabelLine[] } {
  const r = new MemoryLines();
  const l = new MemoryLines();
  runRecord(c, r, l);
  return { readings: r.lines.map((x) => JSON.parse(x) as Line), labels: l.lines.map((x) => JSON.parse(x) as LabelLine) };
}

const key = (x: { deviceId: string; metric: string; ts: number }): string => `${x.deviceId}|${x.metric}|${x.ts}`;

describe('record mode', () => {
  test('same seed gives byte-identical readings and labels; another seed does not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-sim-'));
    try {
      const run = (name: string, seed: number): [Buffer, Buffer] => {
        const path = join(dir, `${name}.ndjson`);
        const c = defaultConfig(FLEET, { seed, durationMs: 2 * 3_600_000, badRate: 0.02, faults: { ...NO_FAULTS, perDay: 24 } });
        runRecord(c, new NdjsonFile(path), new NdjsonFile(labelsPathFor(path)));
        return [readFileSync(path), readFileSync(labelsPathFor(path))];
      };
      const [a, la] = run('a', 7);
      const [b, lb] = run('b', 7);
      const [c, lc] = run('c', 8);
      assert.ok(a.length > 100_000 && la.length > 100, `${a.length} bytes, ${la.length} label bytes`);
      assert.ok(a.equals(b), 'readings differ for the same seed');
      assert.ok(la.equals(lb), 'labels differ for the same seed');
      assert.ok(!a.equals(c) && !la.equals(lc), 'a different seed gave the same output');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lines are exactly the replay input format', () => {
    const { readings } = record(defaultConfig([{ profile: profile('env-sensor'), count: 1 }], { durationMs: 60_000, seed: 3 }));
    assert.ok(readings.length > 0);
    for (const r of readings) {
      assert.deepEqual(Object.keys(r), ['deviceId', 'metric', 'value', 'ts', 'arrival']);
      assert.ok(Number.isInteger(r.ts) && Number.isInteger(r.arrival) && Number.isFinite(r.value));
    }
  });

  test('labels line up with the injected faults: outside labels every reading equals the fault-free run', () => {
    const base = { seed: 11, durationMs: 4 * 3_600_000, link: QUIET_LINK };
    const clean = record(defaultConfig(FLEET, { ...base, faults: NO_FAULTS }));
    const faulty = record(defaultConfig(FLEET, { ...base, faults: { perDay: 60, weights: DEFAULT_FAULT_WEIGHTS } }));
    assert.equal(clean.labels.length, 0);
    const kinds = new Set(faulty.labels.map((l) => l.kind));
    assert.deepEqual([...kinds].sort(), ['drift', 'dropout', 'level_shift', 'noise_burst', 'out_of_range', 'spike', 'stuck']);

    const labelsOf = new Map<string, LabelLine[]>();
    for (const l of faulty.labels) {
      assert.ok(l.start < l.end, JSON.stringify(l));
      const k = `${l.deviceId}|${l.metric}`;
      labelsOf.set(k, [...(labelsOf.get(k) ?? []), l]);
    }
    const labelAt = (r: { deviceId: string; metric: string; ts: number }): LabelLine | undefined =>
      labelsOf.get(`${r.deviceId}|${r.metric}`)?.find((l) => r.ts >= l.start && r.ts < l.end);

    const faultyByKey = new Map(faulty.readings.map((r) => [key(r), r]));
    const differs = new Set<LabelLine>();
    for (const c of clean.readings) {
      const f = faultyByKey.get(key(c));
      const label = labelAt(c);
      if (label === undefined) {
        assert.deepEqual(f, c, `unlabelled reading changed: ${key(c)}`);
        continue;
      }
      if (label.kind === 'dropout') {
        assert.equal(f, undefined, `reading inside a dropout: ${key(c)}`);
        differs.add(label);
        continue;
      }
      assert.ok(f !== undefined, `reading missing inside ${label.kind}: ${key(c)}`);
      const range = profile(FLEET.find((e) => c.deviceId.startsWith(e.profile.deviceIdPrefix ?? ''))?.profile.name ?? '').metrics[c.metric].range;
      const outside = f.value < range[0] || f.value > range[1];
      assert.equal(outside, label.kind === 'out_of_range', `${label.kind} at ${key(c)}: ${f.value} vs range ${range.join('..')}`);
      if (f.value !== c.value) differs.add(label);
    }
    assert.equal(faulty.readings.length + [...faulty.labels].filter((l) => l.kind === 'dropout').length > 0, true);
    for (const r of faulty.readings) assert.ok(clean.readings.length > 0 && faultyByKey.has(key(r)));
    // Every label covers at least one sample that really changed (or vanished).
    const idle = faulty.labels.filter((l) => !differs.has(l));
    assert.deepEqual(idle, [], 'labels without any effect');
  });

  test('outages delay readings (buffered, replayed with original timestamps) but never change or lose them', () => {
    const base = { seed: 5, durationMs: 4 * 3_600_000, faults: NO_FAULTS };
    const steady = record(defaultConfig(FLEET, { ...base, link: QUIET_LINK }));
    const flaky = record(defaultConfig(FLEET, {
      ...base,
      link: { ...DEFAULT_LINK, outagesPerDay: 12, newestFirstShare: 0.5, storm: { firstAtMs: 3_600_000, everyMs: 7_200_000, durationMs: 120_000, fraction: 1 } },
    }));
    const strip = (rs: Line[]): string[] => rs.map((r) => `${key(r)}|${r.value}`).sort();
    assert.deepEqual(strip(flaky.readings), strip(steady.readings));
    const late = flaky.readings.filter((r) => r.arrival - r.ts > 60_000);
    assert.ok(late.length > 100, `${late.length} late readings`);
    // Replays interleave with live data: per device, timestamps arrive out of order somewhere.
    const lastTs = new Map<string, number>();
    let outOfOrder = 0;
    for (const r of flaky.readings) {
      const k = `${r.deviceId}|${r.metric}`;
      if (r.ts < (lastTs.get(k) ?? -Infinity)) outOfOrder++;
      lastTs.set(k, Math.max(r.ts, lastTs.get(k) ?? -Infinity));
    }
    assert.ok(outOfOrder > 0, 'no out-of-order data');
    // Lines are in arrival order: the order the gateway receives them.
    for (let i = 1; i < flaky.readings.length; i++) assert.ok(flaky.readings[i].arrival >= flaky.readings[i - 1].arrival);
  });

  test('clock skew: timestamps differ from arrival by the device offset, within the configured bound', () => {
    const { readings } = record(defaultConfig(FLEET, { seed: 9, durationMs: 600_000, link: QUIET_LINK, faults: NO_FAULTS, skewMaxMs: 1500, driftMaxPpm: 0 }));
    const offsets = new Map<string, number[]>();
    for (const r of readings) offsets.set(r.deviceId, [...(offsets.get(r.deviceId) ?? []), r.arrival - r.ts]);
    const spread = [...offsets.values()].map((v) => Math.min(...v));
    assert.ok(spread.some((d) => d < -200) && spread.some((d) => d > 200), `offsets ${spread.join(',')}`);
    for (const v of offsets.values()) for (const d of v) assert.ok(d > -1500 && d < 1500 + 200, String(d));
  });
});
