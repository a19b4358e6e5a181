import type { Reading } from '../types.ts';
import type { AggregateValues } from '../outputs.ts';
import { fieldReader, type FieldReader } from '../key.ts';
import { DDSketch, type DDSketchState } from '../sketch/ddsketch.ts';
import { HyperLogLog, type HyperLogLogState } from '../sketch/hyperloglog.ts';
import {
  DEFAULT_HLL_PRECISION, DEFAULT_QUANTILE_ACCURACY, defaultAggregateName, type AggregateSpec,
} from './spec.ts';

/**
 * Where each aggregate's running numbers live. Accumulators are rows of a
 * shared Float64Array (struct-of-arrays): no object per key and window, so a
 * key costs a few dozen bytes and the hot path allocates nothing.
 *
 * Row layout: [count, tMin, tMax, ...one block per numeric field...]; a block
 * holds only the components its aggregates need. Sketches (quantile,
 * distinct) live in a parallel object array.
 */
const C_COUNT = 0;
const C_TMIN = 1;
const C_TMAX = 2;
const HEADER = 3;

interface NumericBlock {
  readonly field: string;
  readonly read: FieldReader | null; // null: the reading's value (fast path)
  readonly n: number;
  readonly sum: number; // -1 when absent
  readonly min: number;
  readonly max: number;
  readonly mean: number; // Welford mean; m2 = mean + 1
  readonly first: number; // firstT; firstV = first + 1
  readonly last: number; // lastT; lastV = last + 1
}

type ObjectSlot =
  | { readonly kind: 'ddsketch'; readonly field: string; readonly read: FieldReader | null; readonly accuracy: number }
  | { readonly kind: 'hll'; readonly field: string; readonly read: FieldReader; readonly precision: number };

type Output =
  | { readonly name: string; readonly kind: 'count' }
  | { readonly name: string; readonly kind: 'field-count' | 'sum' | 'min' | 'max' | 'mean' | 'variance' | 'stddev' | 'varianceSample' | 'stddevSample' | 'first' | 'last' | 'rate'; readonly block: NumericBlock }
  | { readonly name: string; readonly kind: 'quantile'; readonly obj: number; readonly q: number }
  | { readonly name: string; readonly kind: 'distinct'; readonly obj: number };

export type SketchObject = DDSketch | HyperLogLog;
export type SketchState = { readonly t: 'dd'; readonly s: DDSketchState } | { readonly t: 'hll'; readonly s: HyperLogLogState };

/** Serialized accumulator row: the numbers, then the sketches (null where never touched). */
export interface AccumulatorState {
  readonly f: number[];
  readonly o?: (SketchState | null)[];
}

export class AggregateLayout {
  readonly stride: number;
  readonly objectsPerRow: number;
  readonly names: readonly string[];
  private readonly blocks: NumericBlock[];
  private readonly valueBlock: NumericBlock | null;
  private readonly otherBlocks: NumericBlock[];
  private readonly objects: ObjectSlot[];
  private readonly outputs: Output[];
  /** Template row copied into a fresh accumulator. */
  private readonly init: Float64Array;

  constructor(specs: readonly AggregateSpec[]) {
    const needs = new Map<string, Set<string>>();
    const need = (field: string, what: string): void => {
      let s = needs.get(field);
      if (!s) needs.set(field, (s = new Set()));
      s.add(what);
    };
    for (const s of specs) {
      const f = s.field ?? 'value';
      switch (s.fn) {
        case 'count': if (f !== 'value') need(f, 'n'); break;
        case 'sum': need(f, 'sum'); break;
        case 'min': need(f, 'min'); break;
        case 'max': need(f, 'max'); break;
        case 'mean': case 'variance': case 'stddev': case 'varianceSample': case 'stddevSample':
          need(f, 'welford'); break;
        case 'first': need(f, 'first'); break;
        case 'last': need(f, 'last'); break;
        case 'rate': need(f, 'first'); need(f, 'last'); break;
        case 'quantile': case 'distinct': break;
      }
    }
    let off = HEADER;
    this.blocks = [];
    for (const [field, set] of needs) {
      const take = (what: string, width: number): number => {
        if (!set.has(what)) return -1;
        const o = off;
        off += width;
        return o;
      };
      const n = off++;
      this.blocks.push({
        field,
        read: field === 'value' ? null : fieldReader(field),
        n,
        sum: take('sum', 1),
        min: take('min', 1),
        max: take('max', 1),
        mean: take('welford', 2),
        first: take('first', 2),
        last: take('last', 2),
      });
    }
    this.stride = off;
    this.valueBlock = this.blocks.find((b) => b.field === 'value') ?? null;
    this.otherBlocks = this.blocks.filter((b) => b.field !== 'value');

    this.objects = [];
    const objIndex = (slot: ObjectSlot): number => {
      const i = this.objects.findIndex((o) => o.kind === slot.kind && o.field === slot.field &&
        (o.kind === 'ddsketch' ? o.accuracy === (slot as { accuracy: number }).accuracy : o.precision === (slot as { precision: number }).precision));
      if (i >= 0) return i;
      this.objects.push(slot);
      return this.objects.length - 1;
    };
    const blockOf = (f: string): NumericBlock => this.blocks.find((b) => b.field === f)!;
    this.outputs = specs.map((s): Output => {
      const name = s.as ?? defaultAggregateName(s);
      const f = s.field ?? 'value';
      switch (s.fn) {
        case 'count':
          return f === 'value' ? { name, kind: 'count' } : { name, kind: 'field-count', block: blockOf(f) };
        case 'quantile':
          return {
            name, kind: 'quantile', q: s.q ?? 0.5,
            obj: objIndex({ kind: 'ddsketch', field: f, read: f === 'value' ? null : fieldReader(f), accuracy: s.accuracy ?? DEFAULT_QUANTILE_ACCURACY }),
          };
        case 'distinct':
          return { name, kind: 'distinct', obj: objIndex({ kind: 'hll', field: f, read: fieldReader(f), precision: s.precision ?? DEFAULT_HLL_PRECISION }) };
        default:
          return { name, kind: s.fn, block: blockOf(f) };
      }
    });
    this.objectsPerRow = this.objects.length;
    this.names = this.outputs.map((o) => o.name);

    this.init = new Float64Array(this.stride);
    this.init[C_TMIN] = Infinity;
    this.init[C_TMAX] = -Infinity;
    for (const b of this.blocks) {
      if (b.min >= 0) this.init[b.min] = Infinity;
      if (b.max >= 0) this.init[b.max] = -Infinity;
      if (b.first >= 0) { this.init[b.first] = Infinity; this.init[b.first + 1] = NaN; }
      if (b.last >= 0) { this.init[b.last] = -Infinity; this.init[b.last + 1] = NaN; }
    }
  }

  newPool(initialRows = 64): AccumulatorPool {
    return new AccumulatorPool(this, initialRows);
  }

  /** @internal */
  initRow(f: Float64Array, base: number): void {
    f.set(this.init, base);
  }

  /** Adds one reading to the row at `row`. The hot path: no allocation. */
  add(pool: AccumulatorPool, row: number, r: Reading): void {
    const f = pool.f;
    const base = row * this.stride;
    const t = r.eventTime;
    f[base + C_COUNT]++;
    if (t < f[base + C_TMIN]!) f[base + C_TMIN] = t;
    if (t > f[base + C_TMAX]!) f[base + C_TMAX] = t;
    const vb = this.valueBlock;
    if (vb !== null) addNumber(f, base, vb, r.value, t);
    const others = this.otherBlocks;
    for (let i = 0; i < others.length; i++) {
      const b = others[i]!;
      const v = b.read!(r);
      if (typeof v === 'number' && Number.isFinite(v)) addNumber(f, base, b, v, t);
    }
    const objs = this.objects;
    for (let i = 0; i < objs.length; i++) {
      const slot = objs[i]!;
      const oi = row * this.objectsPerRow + i;
      if (slot.kind === 'ddsketch') {
        const v = slot.read === null ? r.value : slot.read(r);
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        let sk = pool.o[oi] as DDSketch | null;
        if (sk == null) pool.o[oi] = sk = new DDSketch({ relativeAccuracy: slot.accuracy });
        sk.add(v);
      } else {
        const v = slot.read(r);
        if (v === undefined || v === null) continue;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
        let h = pool.o[oi] as HyperLogLog | null;
        if (h == null) pool.o[oi] = h = new HyperLogLog({ precision: slot.precision });
        h.add(v);
      }
    }
  }

  /** Merges row `src` of `srcPool` into row `dst` of `dstPool` (panes into windows, sessions into sessions). */
  merge(dstPool: AccumulatorPool, dst: number, srcPool: AccumulatorPool, src: number): void {
    const d = dstPool.f;
    const s = srcPool.f;
    const db = dst * this.stride;
    const sb = src * this.stride;
    d[db + C_COUNT] += s[sb + C_COUNT]!;
    if (s[sb + C_TMIN]! < d[db + C_TMIN]!) d[db + C_TMIN] = s[sb + C_TMIN]!;
    if (s[sb + C_TMAX]! > d[db + C_TMAX]!) d[db + C_TMAX] = s[sb + C_TMAX]!;
    for (const b of this.blocks) {
      const na = d[db + b.n]!;
      const nb = s[sb + b.n]!;
      if (nb === 0) continue;
      d[db + b.n] = na + nb;
      if (b.sum >= 0) d[db + b.sum] += s[sb + b.sum]!;
      if (b.min >= 0 && s[sb + b.min]! < d[db + b.min]!) d[db + b.min] = s[sb + b.min]!;
      if (b.max >= 0 && s[sb + b.max]! > d[db + b.max]!) d[db + b.max] = s[sb + b.max]!;
      if (b.mean >= 0) {
        if (na === 0) {
          d[db + b.mean] = s[sb + b.mean]!;
          d[db + b.mean + 1] = s[sb + b.mean + 1]!;
        } else {
          // Chan, Golub & LeVeque: combining two partial Welford states.
          const ma = d[db + b.mean]!;
          const mb = s[sb + b.mean]!;
          const n = na + nb;
          const delta = mb - ma;
          d[db + b.mean] = ma + (delta * nb) / n;
          d[db + b.mean + 1] = d[db + b.mean + 1]! + s[sb + b.mean + 1]! + (delta * delta * na * nb) / n;
        }
      }
      // Panes and sessions are disjoint in event time, so no ties across rows.
      if (b.first >= 0 && s[sb + b.first]! < d[db + b.first]!) {
        d[db + b.first] = s[sb + b.first]!;
        d[db + b.first + 1] = s[sb + b.first + 1]!;
      }
      if (b.last >= 0 && s[sb + b.last]! >= d[db + b.last]!) {
        d[db + b.last] = s[sb + b.last]!;
        d[db + b.last + 1] = s[sb + b.last + 1]!;
      }
    }
    const k = this.objectsPerRow;
    for (let i = 0; i < k; i++) {
      const so = srcPool.o[src * k + i];
      if (so == null || so.isEmpty) continue;
      const dox = dstPool.o[dst * k + i];
      if (dox == null) dstPool.o[dst * k + i] = so.clone();
      else (dox as { merge(o: SketchObject): void }).merge(so);
    }
  }

  count(pool: AccumulatorPool, row: number): number {
    return pool.f[row * this.stride + C_COUNT]!;
  }

  timeRange(pool: AccumulatorPool, row: number): [number, number] {
    const base = row * this.stride;
    return [pool.f[base + C_TMIN]!, pool.f[base + C_TMAX]!];
  }

  values(pool: AccumulatorPool, row: number): AggregateValues {
    const f = pool.f;
    const base = row * this.stride;
    const out: AggregateValues = {};
    for (const o of this.outputs) {
      out[o.name] = this.valueOf(o, f, base, pool, row);
    }
    return out;
  }

  private valueOf(o: Output, f: Float64Array, base: number, pool: AccumulatorPool, row: number): number | null {
    switch (o.kind) {
      case 'count':
        return f[base + C_COUNT]!;
      case 'quantile': {
        const sk = pool.o[row * this.objectsPerRow + o.obj] as DDSketch | null;
        return sk == null ? null : sk.quantile(o.q);
      }
      case 'distinct': {
        const h = pool.o[row * this.objectsPerRow + o.obj] as HyperLogLog | null;
        return h == null ? 0 : h.estimate();
      }
      default: {
        const b = o.block;
        const n = f[base + b.n]!;
        switch (o.kind) {
          case 'field-count': return n;
          case 'sum': return f[base + b.sum]!;
          case 'min': return n === 0 ? null : f[base + b.min]!;
          case 'max': return n === 0 ? null : f[base + b.max]!;
          case 'mean': return n === 0 ? null : f[base + b.mean]!;
          case 'variance': return n === 0 ? null : f[base + b.mean + 1]! / n;
          case 'stddev': return n === 0 ? null : Math.sqrt(f[base + b.mean + 1]! / n);
          case 'varianceSample': return n < 2 ? null : f[base + b.mean + 1]! / (n - 1);
          case 'stddevSample': return n < 2 ? null : Math.sqrt(f[base + b.mean + 1]! / (n - 1));
          case 'first': return n === 0 ? null : f[base + b.first + 1]!;
          case 'last': return n === 0 ? null : f[base + b.last + 1]!;
          case 'rate': {
            const dt = f[base + b.last]! - f[base + b.first]!;
            if (n === 0 || !(dt > 0)) return null;
            return ((f[base + b.last + 1]! - f[base + b.first + 1]!) * 1000) / dt;
          }
        }
      }
    }
  }

  /** Plain-data copy of a row. Holds ±Infinity/NaN for empty components: CBOR-safe (checkpoints use CBOR), not JSON-safe. */
  saveRow(pool: AccumulatorPool, row: number): AccumulatorState {
    const base = row * this.stride;
    const f: number[] = new Array(this.stride);
    for (let i = 0; i < this.stride; i++) f[i] = pool.f[base + i]!;
    if (this.objectsPerRow === 0) return { f };
    const o: (SketchState | null)[] = [];
    for (let i = 0; i < this.objectsPerRow; i++) {
      const x = pool.o[row * this.objectsPerRow + i];
      if (x == null || x.isEmpty) o.push(null);
      else if (x instanceof DDSketch) o.push({ t: 'dd', s: x.toState() });
      else o.push({ t: 'hll', s: x.toState() });
    }
    return { f, o };
  }

  loadRow(pool: AccumulatorPool, row: number, st: AccumulatorState): void {
    if (!Array.isArray(st.f) || st.f.length !== this.stride) {
      throw new TypeError(`accumulator row has ${Array.isArray(st.f) ? st.f.length : 'no'} numbers, layout needs ${this.stride}`);
    }
    const base = row * this.stride;
    for (let i = 0; i < this.stride; i++) pool.f[base + i] = st.f[i]!;
    for (let i = 0; i < this.objectsPerRow; i++) {
      const x = st.o?.[i] ?? null;
      pool.o[row * this.objectsPerRow + i] = x === null ? null : x.t === 'dd' ? DDSketch.fromState(x.s) : HyperLogLog.fromState(x.s);
    }
  }

  /** Bytes a row costs in the pool plus its sketches. */
  rowBytes(pool: AccumulatorPool, row: number): number {
    let b = this.stride * 8 + this.objectsPerRow * 8;
    for (let i = 0; i < this.objectsPerRow; i++) {
      const x = pool.o[row * this.objectsPerRow + i];
      if (x != null) b += x.byteSize();
    }
    return b;
  }
}

function addNumber(f: Float64Array, base: number, b: NumericBlock, v: number, t: number): void {
  const n = ++f[base + b.n]!;
  if (b.sum >= 0) f[base + b.sum] += v;
  if (b.min >= 0 && v < f[base + b.min]!) f[base + b.min] = v;
  if (b.max >= 0 && v > f[base + b.max]!) f[base + b.max] = v;
  if (b.mean >= 0) {
    // Welford: mean += δ/n; M2 += δ·(v − mean').
    const mean = f[base + b.mean]!;
    const delta = v - mean;
    const m = mean + delta / n;
    f[base + b.mean] = m;
    f[base + b.mean + 1] += delta * (v - m);
  }
  if (b.first >= 0 && t < f[base + b.first]!) {
    f[base + b.first] = t;
    f[base + b.first + 1] = v;
  }
  if (b.last >= 0 && t >= f[base + b.last]!) {
    f[base + b.last] = t;
    f[base + b.last + 1] = v;
  }
}

/** Rows of accumulators with a free list. Rows are reused; no per-row objects. */
export class AccumulatorPool {
  f: Float64Array;
  o: (SketchObject | null)[];
  private capacity: number;
  private free: number[] = [];
  private next = 0;
  live = 0;

  constructor(private readonly layout: AggregateLayout, initialRows: number) {
    this.capacity = Math.max(1, initialRows);
    this.f = new Float64Array(this.capacity * layout.stride);
    this.o = layout.objectsPerRow > 0 ? new Array(this.capacity * layout.objectsPerRow).fill(null) : [];
  }

  alloc(): number {
    let row: number;
    if (this.free.length > 0) row = this.free.pop()!;
    else {
      if (this.next === this.capacity) this.grow();
      row = this.next++;
    }
    this.layout.initRow(this.f, row * this.layout.stride);
    this.live++;
    return row;
  }

  release(row: number): void {
    // Sketches stay with the row, emptied, so the next window of any key reuses their buffers.
    const k = this.layout.objectsPerRow;
    for (let i = 0; i < k; i++) this.o[row * k + i]?.clear();
    this.free.push(row);
    this.live--;
  }

  /** Rows ever handed out (live or free): row indices are below this. */
  get highWater(): number {
    return this.next;
  }

  /** Bytes held by the pool's arrays (allocated capacity, not just live rows). */
  bytes(): number {
    return this.f.byteLength + this.o.length * 8 + this.free.length * 8;
  }

  private grow(): void {
    // 1.5×, not 2×: the unused tail is at most a third of the pool (memory is the scarce thing on a gateway).
    const cap = Math.ceil(this.capacity * 1.5);
    const f = new Float64Array(cap * this.layout.stride);
    f.set(this.f);
    this.f = f;
    if (this.layout.objectsPerRow > 0) {
      const o = new Array<SketchObject | null>(cap * this.layout.objectsPerRow).fill(null);
      for (let i = 0; i < this.o.length; i++) o[i] = this.o[i]!;
      this.o = o;
    }
    this.capacity = cap;
  }
}
