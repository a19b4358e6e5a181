/**
 * npm run bench:nab -- --sim FILE [--labels FILE]
 *
 * Precision and recall of the detectors on a firmware-sim recording with its
 * ground-truth labels. Record one first, e.g.
 *   node --import tsx firmware-sim/cli.ts --devices env-sensor=4,vibration=2,power-meter=2,air-quality=2 \
 *     --duration 2d --record /tmp/sim.ndjson
 * (labels go to /tmp/sim.labels.ndjson). Readings are fed in file order
 * (arrival order), one detector instance per device × metric per kind, with
 * the series context from the built-in device profiles (valid range,
 * sampling interval). Processing time reaches the detectors as a tick every
 * second of arrival time, as the log's tick records would.
 *
 * A labelled fault is detected by a detector when one of its alerts falls in
 * [start, end + grace] (reading alerts by event time, silence alerts by
 * processing time; grace = max(60 s, 5 sampling intervals)). An alert is a
 * true positive when it falls in such a span of any label of its series.
 * Detector settings: out-of-range from the profile range; rate-of-change
 * with maxStep = 2% of the range; flatline 10 equal readings; dropout after
 * 3 intervals of silence; ewma-z, robust-mad and novelty with defaults.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BUILTIN_PROFILES, type DeviceProfile } from '../../../devices/index.ts';
import { createDetector } from '../../anomaly/create-detector.ts';
import type { Detector, SeriesContext } from '../../anomaly/detector.ts';
import { WeirError } from '../../errors.ts';
import { benchLine, round } from '../bench-util.ts';

const KINDS = ['out-of-range', 'rate-of-change', 'flatline', 'dropout', 'ewma-z', 'robust-mad', 'novelty'] as const;
type Kind = (typeof KINDS)[number];
const TICK_MS = 1000;

interface Label { deviceId: string; metric: string; start: number; end: number; kind: string }
interface Alert { time: number }
interface Series { key: string; ctx: SeriesContext; grace: number; dets: Map<Kind, Detector>; alerts: Map<Kind, Alert[]> }

function specFor(kind: Kind, ctx: SeriesContext): Record<string, unknown> {
  if (kind === 'rate-of-change') {
    const [lo, hi] = ctx.validRange!;
    return { kind, maxStep: 0.02 * (hi - lo) };
  }
  return { kind };
}

function profileOf(deviceId: string): DeviceProfile {
  const p = BUILTIN_PROFILES.find((x) => new RegExp(x.deviceIdPattern).test(deviceId));
  if (p === undefined) throw new WeirError('E_INPUT_RECORD', `no built-in profile matches device ${deviceId}`);
  return p;
}

async function* lines(path: string): AsyncGenerator<Record<string, unknown>> {
  if (!existsSync(path)) throw new WeirError('E_IO', `no such file ${path}`);
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    n++;
    if (line === '') continue;
    try {
      yield JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new WeirError('E_INPUT_PARSE', `${path} line ${n}: not JSON`, { cause: e });
    }
  }
}

export interface SimResult {
  readonly readings: number;
  readonly series: number;
  readonly labels: number;
  readonly labelsFile: string;
  /** fault kind → detector (or `any device-health`) → share of labelled faults detected. */
  readonly recall: Record<string, Record<string, number>>;
  /** fault kind → number of labelled faults. */
  readonly faults: Record<string, number>;
  /** detector → alerts raised and the share inside a labelled span of their series. */
  readonly precision: Record<string, { alerts: number; precision: number }>;
  readonly elapsedMs: number;
}

export async function runSimBench(readingsPath: string, labelsPath?: string): Promise<void> {
  printSimResult(readingsPath, await simBench(readingsPath, labelsPath));
}

export async function simBench(readingsPath: string, labelsPath?: string): Promise<SimResult> {
  const labelsFile = labelsPath ?? (readingsPath.endsWith('.ndjson') ? `${readingsPath.slice(0, -'.ndjson'.length)}.labels.ndjson` : `${readingsPath}.labels.ndjson`);
  const series = new Map<string, Series>();
  const all: Series[] = [];
  let readings = 0;
  let nextTick = Number.NaN;
  const tick = (pt: number): void => {
    for (const s of all) {
      for (const [kind, d] of s.dets) {
        const v = d.onProcessingTime(pt);
        if (v !== null && v.anomaly !== null) s.alerts.get(kind)!.push({ time: pt });
      }
    }
  };
  const t0 = performance.now();
  for await (const r of lines(readingsPath)) {
    const deviceId = String(r.deviceId);
    const metric = String(r.metric);
    const ts = Number(r.ts);
    const arrival = Number(r.arrival);
    const value = Number(r.value);
    if (Number.isNaN(nextTick)) nextTick = Math.ceil(arrival / TICK_MS) * TICK_MS;
    while (nextTick <= arrival) {
      tick(nextTick);
      nextTick += TICK_MS;
    }
    const key = `${deviceId}/${metric}`;
    let s = series.get(key);
    if (s === undefined) {
      const p = profileOf(deviceId);
      const m = p.metrics[metric];
      if (m === undefined) throw new WeirError('E_INPUT_RECORD', `profile ${p.name} has no metric ${metric}`);
      const ctx: SeriesContext = { validRange: m.range, expectedIntervalMs: p.samplingIntervalMs };
      s = {
        key, ctx, grace: Math.max(60_000, 5 * p.samplingIntervalMs),
        dets: new Map(KINDS.map((k) => [k, createDetector(specFor(k, ctx), ctx, k)])),
        alerts: new Map(KINDS.map((k) => [k, []])),
      };
      series.set(key, s);
      all.push(s);
    }
    for (const [kind, d] of s.dets) {
      const v = d.update(ts, value, arrival);
      if (v.anomaly !== null) s.alerts.get(kind)!.push({ time: ts });
    }
    readings++;
  }
  if (!Number.isNaN(nextTick)) tick(nextTick);
  const elapsed = performance.now() - t0;

  const labels: Label[] = [];
  for await (const l of lines(labelsFile)) labels.push({ deviceId: String(l.deviceId), metric: String(l.metric), start: Number(l.start), end: Number(l.end), kind: String(l.kind) });
  const byKind = new Map<string, Label[]>();
  for (const l of labels) byKind.set(l.kind, [...(byKind.get(l.kind) ?? []), l]);
  const covered = (s: Series, l: Label, t: number): boolean => t >= l.start && t <= l.end + s.grace;

  // recall per fault kind and detector
  const faultKinds = [...byKind.keys()].sort();
  const recall: Record<string, Record<string, number>> = {};
  for (const fk of faultKinds) {
    recall[fk] = {};
    for (const kind of [...KINDS, 'any device-health'] as const) {
      let hit = 0;
      for (const l of byKind.get(fk)!) {
        const s = series.get(`${l.deviceId}/${l.metric}`);
        if (s === undefined) continue;
        const kinds: readonly Kind[] = kind === 'any device-health' ? ['out-of-range', 'rate-of-change', 'flatline', 'dropout'] : [kind];
        if (kinds.some((k) => s.alerts.get(k)!.some((a) => covered(s, l, a.time)))) hit++;
      }
      recall[fk]![kind] = hit / byKind.get(fk)!.length;
    }
  }
  // precision per detector
  const labelsOf = new Map<string, Label[]>();
  for (const l of labels) labelsOf.set(`${l.deviceId}/${l.metric}`, [...(labelsOf.get(`${l.deviceId}/${l.metric}`) ?? []), l]);
  const precision: Record<string, { alerts: number; precision: number }> = {};
  for (const kind of KINDS) {
    let n = 0;
    let tp = 0;
    for (const s of all) {
      const ls = labelsOf.get(s.key) ?? [];
      for (const a of s.alerts.get(kind)!) {
        n++;
        if (ls.some((l) => covered(s, l, a.time))) tp++;
      }
    }
    precision[kind] = { alerts: n, precision: n === 0 ? Number.NaN : tp / n };
  }

  const faults = Object.fromEntries(faultKinds.map((fk) => [fk, byKind.get(fk)!.length]));
  return { readings, series: all.length, labels: labels.length, labelsFile, recall, faults, precision, elapsedMs: elapsed };
}

const COLS = [...KINDS, 'any device-health'];

export function printSimResult(readingsPath: string, r: SimResult): void {
  console.log(`sim recording: ${readingsPath}: ${r.readings} readings, ${r.series} series, ${r.labels} labelled faults (${r.labelsFile})`);
  const col = (c: string): number => Math.max(15, c.length + 2);
  const faultKinds = Object.keys(r.recall);
  console.log(`\nrecall (share of labelled faults with an alert)\n${'fault (count)'.padEnd(20)}${COLS.map((c) => c.padStart(col(c))).join('')}`);
  for (const fk of faultKinds) {
    console.log(`${`${fk} (${r.faults[fk]})`.padEnd(20)}${COLS.map((c) => r.recall[fk]![c]!.toFixed(2).padStart(col(c))).join('')}`);
  }
  const prec = (k: string): string => (Number.isNaN(r.precision[k]!.precision) ? '-' : r.precision[k]!.precision.toFixed(2));
  console.log(`${'precision'.padEnd(20)}${KINDS.map((k) => prec(k).padStart(col(k))).join('')}`);
  console.log(`${'alerts'.padEnd(20)}${KINDS.map((k) => String(r.precision[k]!.alerts).padStart(col(k))).join('')}`);
  console.log(`\n${r.readings} readings through ${KINDS.length} detectors each in ${(r.elapsedMs / 1000).toFixed(1)} s (parsing included)`);
  benchLine({
    mode: 'sim', readings: r.readings, series: r.series, labels: r.labels,
    recall: Object.fromEntries(faultKinds.map((fk) => [fk, Object.fromEntries(COLS.map((c) => [c, round(r.recall[fk]![c]!, 3)]))])),
    precision: Object.fromEntries(KINDS.map((k) => [k, Number.isNaN(r.precision[k]!.precision) ? null : round(r.precision[k]!.precision, 3)])),
    alerts: Object.fromEntries(KINDS.map((k) => [k, r.precision[k]!.alerts])),
  });
}
