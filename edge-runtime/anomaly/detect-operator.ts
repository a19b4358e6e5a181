import type { Reading, Watermark } from '../engine/types.ts';
import type { NamedState, Operator, OperatorContext } from '../engine/operator.ts';
import type { AnomalyRecord } from '../engine/outputs.ts';
import type { Keying } from '../engine/key.ts';
import type { DeltaVisitor, KeyedStateOperator, StateDelta } from '../engine/keyed-state.ts';
import type { Detector, DetectorState, SeriesContext, Verdict } from './detector.ts';
import type { ResolvedSpec } from './detector-spec.ts';
import { createDetector, restoreDetector } from './create-detector.ts';
import { WeirError } from '../errors.ts';

interface Series {
  readonly deviceId: string;
  readonly metric: string;
  readonly detectors: Detector[];
}

type SeriesRow = { deviceId: string; metric: string; states: DetectorState[] };

export interface DetectState {
  lastSweep: number;
  series: [string, SeriesRow][];
}

/** How often (processing time) silence detectors are asked whether time itself is news. */
const SWEEP_MS = 1000;

/**
 * Runs detectors per series (the pipeline's key, by default device × metric)
 * on each reading, in arrival order, and emits an anomaly record for every
 * flagged verdict. Processing time reaches silence detectors through
 * watermarks, at most once per second of processing time, so replays decide
 * exactly as live runs did.
 *
 * Keyed state: one row per series with all its detectors' states; a series is
 * dirty when it got a reading or a silence verdict (detectors change state on
 * `onProcessingTime` only when they answer). Detector state is small and
 * fixed, so it is not spilled: under a `spill` budget, windows spill instead;
 * under `refuse-new-keys`, readings of series it does not hold yet are
 * refused (counted) while over the budget, like the windows' new keys.
 */
export class DetectOperator implements Operator<Reading, AnomalyRecord, NamedState<'detect', DetectState>>, KeyedStateOperator {
  readonly kind = 'detect';
  readonly counters = { readings: 0, anomalies: 0, series: 0 };
  private readonly series = new Map<string, Series>();
  private readonly dirty = new Set<string>();
  private readonly sweeps: boolean;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private bytesPerSeries = 0;
  private refusing = false;
  private refused = 0;

  constructor(
    private readonly pipeline: string,
    private readonly keys: Keying,
    private readonly specs: readonly ResolvedSpec[],
    private readonly contextOf: (deviceId: string, metric: string) => SeriesContext = () => ({}),
  ) {
    this.sweeps = specs.some((s) => s.kind === 'dropout');
  }

  private open(key: string, r: Reading): Series {
    const ctx = this.contextOf(r.deviceId, r.metric);
    const s: Series = {
      deviceId: r.deviceId,
      metric: r.metric,
      detectors: this.specs.map((spec, i) => createDetector(spec, ctx, `${this.pipeline}.detect[${i}]`)),
    };
    this.series.set(key, s);
    this.counters.series++;
    if (this.bytesPerSeries === 0) this.bytesPerSeries = 96 + key.length * 2 + s.detectors.reduce((a, d) => a + d.stateBytes() + 48, 0);
    return s;
  }

  process(items: readonly Reading[], ctx: OperatorContext<AnomalyRecord>): void {
    const keyOf = this.keys.keyOf;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      const key = keyOf(r);
      let s = this.series.get(key);
      if (s === undefined) {
        if (this.refusing) {
          this.refused++;
          continue;
        }
        s = this.open(key, r);
      }
      for (const d of s.detectors) {
        const v = d.update(r.eventTime, r.value, r.arrivalTime);
        if (v.anomaly !== null) this.emit(ctx, key, s, r.eventTime, v);
      }
      this.dirty.add(key);
      this.counters.readings++;
    }
  }

  onWatermark(wm: Watermark, ctx: OperatorContext<AnomalyRecord>): void {
    const pt = wm.processingTime;
    if (!this.sweeps || !Number.isFinite(pt) || pt < this.lastSweep + SWEEP_MS) return;
    this.lastSweep = pt;
    for (const [key, s] of this.series) {
      for (const d of s.detectors) {
        const v = d.onProcessingTime(pt);
        if (v === null) continue;
        this.dirty.add(key);
        if (v.anomaly !== null) this.emit(ctx, key, s, pt, v);
      }
    }
  }

  finish(): void {
    // Detectors hold no open results.
  }

  private emit(ctx: OperatorContext<AnomalyRecord>, key: string, s: Series, eventTime: number, v: Verdict): void {
    const a = v.anomaly!;
    this.counters.anomalies++;
    ctx.emit({
      type: 'anomaly',
      pipeline: this.pipeline,
      key: this.keys.toObject(key),
      deviceId: s.deviceId,
      metric: s.metric,
      eventTime,
      score: v.score,
      detector: a.detector,
      reason: a.reason,
      ...(a.expected !== undefined ? { expected: a.expected } : {}),
      observed: a.observed,
    });
  }

  private row(s: Series): SeriesRow {
    return { deviceId: s.deviceId, metric: s.metric, states: s.detectors.map((d) => d.snapshot()) };
  }

  private load(key: string, row: SeriesRow): void {
    const ctx = this.contextOf(row.deviceId, row.metric);
    if (row.states.length !== this.specs.length) {
      throw new WeirError('E_STATE_VERSION', `detect ${this.pipeline}: series ${key} has ${row.states.length} detector states, the pipeline has ${this.specs.length} detectors`);
    }
    this.series.set(key, {
      deviceId: row.deviceId,
      metric: row.metric,
      detectors: this.specs.map((spec, i) => restoreDetector(spec, ctx, row.states[i]!, `${this.pipeline}.detect[${i}]`)),
    });
  }

  drainDelta(visit?: DeltaVisitor): StateDelta {
    const upserts: (readonly [string, unknown])[] = [];
    const out: DeltaVisitor = visit ?? ((k, v) => void upserts.push([k, v]));
    for (const key of [...this.dirty].sort()) out(key, this.row(this.series.get(key)!));
    this.dirty.clear();
    out('\u0000meta', { lastSweep: this.lastSweep });
    return { upserts, deletes: [], deletePrefixes: [] };
  }

  beginRestore(): void {
    this.series.clear();
    this.dirty.clear();
    this.lastSweep = Number.NEGATIVE_INFINITY;
  }

  restoreRow(key: string, value: unknown): void {
    if (key === '\u0000meta') {
      this.lastSweep = (value as { lastSweep: number }).lastSweep;
      return;
    }
    this.load(key, value as SeriesRow);
  }

  memoryBytes(): number {
    return this.series.size * this.bytesPerSeries;
  }

  evict(): number {
    return 0;
  }

  spilledRows(): number {
    return 0;
  }

  /** Set by the memory governor under the refuse-new-keys policy. */
  setRefusing(on: boolean): void {
    this.refusing = on;
  }

  refusedReadings(): number {
    return this.refused;
  }

  snapshot(): NamedState<'detect', DetectState> {
    const series: [string, SeriesRow][] = [...this.series.keys()].sort().map((k) => [k, this.row(this.series.get(k)!)]);
    return { name: 'detect', version: 1, data: { lastSweep: this.lastSweep, series } };
  }

  restore(state: NamedState<'detect', DetectState>): void {
    if (state.name !== 'detect' || state.version !== 1) throw new WeirError('E_STATE_VERSION', `detect cannot restore ${state.name} v${state.version}`);
    this.beginRestore();
    this.lastSweep = state.data.lastSweep;
    for (const [k, row] of state.data.series) this.load(k, row);
  }

  stateBytes(): number {
    return this.memoryBytes();
  }
}
