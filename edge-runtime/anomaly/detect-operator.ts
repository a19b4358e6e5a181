import type { Reading, Watermark } from '../engine/types.ts';
import type { NamedState, Operator, OperatorContext } from '../engine/operator.ts';
import type { AnomalyRecord } from '../engine/outputs.ts';
import type { Keying } from '../engine/key.ts';
import type { ColdStore, DeltaVisitor, KeyedStateOperator, StateDelta } from '../engine/keyed-state.ts';
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

/**
 * A series the operator knows: resident (`s`), or spilled to the cold store (`s` null) with the
 * processing time after which its silence could be news (`deadline`). Slots keep first-seen order
 * whatever is resident, so a sweep visits series in the same order with or without spilling.
 */
interface Slot {
  s: Series | null;
  deadline: number;
  /** Read since the eviction hand last passed (second chance). */
  touched: boolean;
}

/** What a spilled series still costs in memory: its slot and key (approximate). */
const SPILLED_BYTES = 96;

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
 * `onProcessingTime` only when they answer). Under a `spill` budget, series
 * not read lately move to the cold store (second-chance clock) and come back
 * on their next reading, or at a sweep once their silence deadline passed —
 * so results are the same with or without spilling. Under `refuse-new-keys`,
 * readings of series it does not hold yet are refused (counted) while over
 * the budget, like the windows' new keys.
 */
export class DetectOperator implements Operator<Reading, AnomalyRecord, NamedState<'detect', DetectState>>, KeyedStateOperator {
  readonly kind = 'detect';
  readonly counters = { readings: 0, anomalies: 0, series: 0 };
  private readonly slots = new Map<string, Slot>();
  /** Resident series changed since the last drain. */
  private readonly dirty = new Set<string>();
  /** Spilled series changed since the last drain (their rows are read back from the cold store). */
  private readonly dirtyCold = new Set<string>();
  private resident = 0;
  private spilled = 0;
  private cold: ColdStore | null = null;
  private hand: Iterator<[string, Slot]> | null = null;
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
    this.place(key, s);
    this.counters.series++;
    return s;
  }

  private place(key: string, s: Series): void {
    this.slots.set(key, { s, deadline: Number.POSITIVE_INFINITY, touched: true });
    this.resident++;
    if (this.bytesPerSeries === 0) this.bytesPerSeries = 96 + key.length * 2 + s.detectors.reduce((a, d) => a + d.stateBytes() + 48, 0);
  }

  /** Brings a spilled series back from the cold store. */
  private wake(key: string, slot: Slot): Series {
    const row = this.cold?.get(key) as SeriesRow | undefined;
    if (row === undefined) throw new WeirError('E_STATE_VERSION', `detect ${this.pipeline}: spilled series ${key} is missing from the cold store`);
    const s = this.make(key, row);
    slot.s = s;
    slot.deadline = Number.POSITIVE_INFINITY;
    this.resident++;
    this.spilled--;
    if (this.dirtyCold.delete(key)) this.dirty.add(key);
    return s;
  }

  attachColdStore(cold: ColdStore): void {
    this.cold = cold;
  }

  process(items: readonly Reading[], ctx: OperatorContext<AnomalyRecord>): void {
    const keyOf = this.keys.keyOf;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      const key = keyOf(r);
      const slot = this.slots.get(key);
      let s: Series;
      if (slot === undefined) {
        if (this.refusing) {
          this.refused++;
          continue;
        }
        s = this.open(key, r);
      } else {
        s = slot.s ?? this.wake(key, slot);
        slot.touched = true;
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
    for (const [key, slot] of this.slots) {
      // A spilled series sleeps until its silence deadline: before it, every detector would answer null.
      if (slot.s === null && !(pt > slot.deadline)) continue;
      const s = slot.s ?? this.wake(key, slot);
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

  private make(key: string, row: SeriesRow): Series {
    const ctx = this.contextOf(row.deviceId, row.metric);
    if (row.states.length !== this.specs.length) {
      throw new WeirError('E_STATE_VERSION', `detect ${this.pipeline}: series ${key} has ${row.states.length} detector states, the pipeline has ${this.specs.length} detectors`);
    }
    return {
      deviceId: row.deviceId,
      metric: row.metric,
      detectors: this.specs.map((spec, i) => restoreDetector(spec, ctx, row.states[i]!, `${this.pipeline}.detect[${i}]`)),
    };
  }

  private load(key: string, row: SeriesRow): void {
    this.place(key, this.make(key, row));
  }

  /** The row of any series, resident or spilled. */
  private rowOf(key: string, slot: Slot): SeriesRow {
    return slot.s !== null ? this.row(slot.s) : (this.cold!.get(key) as SeriesRow);
  }

  deltaSize(): number {
    return this.dirty.size + this.dirtyCold.size;
  }

  drainDelta(visit?: DeltaVisitor): StateDelta {
    const upserts: (readonly [string, unknown])[] = [];
    const out: DeltaVisitor = visit ?? ((k, v) => void upserts.push([k, v]));
    for (const key of [...this.dirty, ...this.dirtyCold].sort()) out(key, this.rowOf(key, this.slots.get(key)!));
    this.dirty.clear();
    this.dirtyCold.clear();
    out('\u0000meta', { lastSweep: this.lastSweep });
    return { upserts, deletes: [], deletePrefixes: [] };
  }

  beginRestore(): void {
    this.slots.clear();
    this.dirty.clear();
    this.dirtyCold.clear();
    this.resident = 0;
    this.spilled = 0;
    this.hand = null;
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
    return this.resident * this.bytesPerSeries + this.spilled * SPILLED_BYTES;
  }

  /** Second-chance (clock) eviction of resident series to the cold store, in first-seen order. */
  evict(bytes: number): number {
    if (this.cold === null || bytes <= 0 || this.bytesPerSeries <= SPILLED_BYTES) return 0;
    const out: (readonly [string, unknown])[] = [];
    let freed = 0;
    const limit = 2 * this.slots.size;
    for (let scanned = 0; scanned < limit && freed < bytes && this.resident > 0; scanned++) {
      let next = this.hand?.next();
      if (next === undefined || next.done === true) {
        this.hand = this.slots.entries();
        next = this.hand.next();
        if (next.done === true) break;
      }
      const [key, slot] = next.value;
      const s = slot.s;
      if (s === null) continue;
      if (slot.touched) {
        slot.touched = false;
        continue;
      }
      out.push([key, this.row(s)]);
      let deadline = Number.POSITIVE_INFINITY;
      for (const d of s.detectors) deadline = Math.min(deadline, d.silenceDeadline?.() ?? Number.POSITIVE_INFINITY);
      slot.s = null;
      slot.deadline = deadline;
      this.resident--;
      this.spilled++;
      if (this.dirty.delete(key)) this.dirtyCold.add(key);
      freed += this.bytesPerSeries - SPILLED_BYTES;
    }
    if (out.length > 0) this.cold.put(out);
    return freed;
  }

  spilledRows(): number {
    return this.spilled;
  }

  /** Set by the memory governor under the refuse-new-keys policy. */
  setRefusing(on: boolean): void {
    this.refusing = on;
  }

  refusedReadings(): number {
    return this.refused;
  }

  snapshot(): NamedState<'detect', DetectState> {
    const series: [string, SeriesRow][] = [...this.slots.keys()].sort().map((k) => [k, this.rowOf(k, this.slots.get(k)!)]);
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
