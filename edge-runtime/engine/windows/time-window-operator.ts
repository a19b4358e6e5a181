import type { Reading, Watermark } from '../types.ts';
import type { NamedState, Operator, OperatorContext } from '../operator.ts';
import type { WindowResult } from '../outputs.ts';
import type { Keying } from '../key.ts';
import { AggregateLayout, type AccumulatorPool, type AccumulatorState } from '../aggregates/layout.ts';
import type { AggregateSpec } from '../aggregates/spec.ts';
import type { ColdStore, DeltaVisitor, KeyedStateOperator, StateDelta } from '../keyed-state.ts';
import { alignDown, gcd } from './time-math.ts';
import { WeirError } from '../../errors.ts';

/** Tumbling windows are hopping windows whose slide equals their size. */
export interface TimeWindowSpec {
  readonly kind: 'tumbling' | 'hopping';
  readonly sizeMs: number;
  readonly slideMs: number;
  /** Shifts the epoch alignment: window starts are ≡ offset (mod slide). */
  readonly offsetMs: number;
  readonly allowedLatenessMs: number;
}

interface Meta {
  watermark: number;
  versions: [number, [string, number][]][];
  dirty: [number, string[]][];
}

export interface TimeWindowState extends Meta {
  /** [`pane|key`, accumulator], sorted by row key. */
  rows: [string, AccumulatorState][];
}

export interface WindowCounters {
  /** Readings added to some window. */
  accepted: number;
  /** Readings that arrived after all their windows were closed for good (side output). */
  lateDropped: number;
  /** Readings too late for some of their (hopping) windows but counted in others (side output too). */
  latePartial: number;
  /** Readings that updated an already emitted window (correction follows). */
  lateAccepted: number;
  /** Corrections emitted. */
  corrections: number;
  /** Windows emitted the first time. */
  fired: number;
}

type RowSource = number | AccumulatorState; // a pool row in memory, or a row read back from the cold store

const META_KEY = 'm';
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Event-time tumbling and hopping windows, half-open [start, end), aligned to
 * the epoch. State is kept per *pane* (slices of gcd(size, slide)) and key; a
 * window is the merge of its panes, so each reading costs O(1) whatever
 * size/slide is.
 *
 * A window fires once the watermark reaches its end; its keys are emitted in
 * key order. Readings for a fired window within `allowedLateness` update it
 * and a correction (same identity, version + 1) is emitted at the next
 * watermark; beyond that they go to the late side output. Nothing is dropped
 * silently.
 *
 * Keyed state: each (pane, key) is one row `pane|key`. Checkpoints take only
 * rows changed since the last one, plus one prefix delete per closed pane.
 * Over a memory budget, rows not touched recently move to a cold store and
 * come back when touched; windows fire from memory and cold rows alike, so
 * results do not depend on what was spilled. (The version table of windows
 * open to late updates stays in memory: allowedLateness > 0 costs ~50 B per
 * key per retained window.)
 */
export class TimeWindowOperator implements Operator<Reading, WindowResult, NamedState<'window.time', TimeWindowState>>, KeyedStateOperator {
  readonly kind: string;
  readonly counters: WindowCounters = { accepted: 0, lateDropped: 0, latePartial: 0, lateAccepted: 0, corrections: 0, fired: 0 };

  private readonly size: number;
  private readonly slide: number;
  private readonly offset: number;
  private readonly lateness: number;
  private readonly pane: number;
  private readonly pool: AccumulatorPool;
  private readonly scratch: AccumulatorPool;
  private readonly rowCost: number;

  /** Live panes: start → (key → pool row) for rows in memory; starts (memory or cold) kept sorted. */
  private readonly panes = new Map<number, Map<string, number>>();
  private paneStarts: number[] = [];
  /** Rows of each pane in the cold store. */
  private readonly coldCount = new Map<number, number>();
  private cold: ColdStore | null = null;
  private coldRows = 0;

  /** Per pool row: its pane and key (null: free), dirty and recently-touched bits. */
  private rowPane = new Float64Array(1024);
  private rowKey: (string | null)[] = new Array<string | null>(1024).fill(null);
  private dirtyBit = new Uint8Array(1024);
  private touched = new Uint8Array(1024);
  private dirtyRows: number[] = [];
  /** Row keys evicted while dirty: their cold value goes into the next checkpoint. */
  private readonly dirtyCold = new Set<string>();
  private closedPanes: number[] = [];
  private clockHand = 0;
  private refusing = false;
  private refused = 0;

  /** Versions of emitted windows still open to late updates: end → key → version. */
  private readonly versions = new Map<number, Map<string, number>>();
  /** Emitted windows updated since: end → keys. */
  private readonly dirty = new Map<number, Set<string>>();
  private wm = Number.NEGATIVE_INFINITY;

  private cacheStart = Number.NaN;
  private cacheTable: Map<string, number> | null = null;
  private cacheFirstEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pipeline: string,
    spec: TimeWindowSpec,
    private readonly keys: Keying,
    aggregates: readonly AggregateSpec[],
    private readonly layout: AggregateLayout = new AggregateLayout(aggregates),
  ) {
    this.kind = `window.${spec.kind}`;
    this.size = spec.sizeMs;
    this.slide = spec.slideMs;
    this.offset = spec.offsetMs;
    this.lateness = spec.allowedLatenessMs;
    this.pane = gcd(this.size, this.slide);
    this.pool = this.layout.newPool(1024);
    this.scratch = this.layout.newPool(64);
    // Pool row + map entry + the parallel arrays + a share of the key string; sketches come on top.
    this.rowCost = this.layout.stride * 8 + 112 + this.layout.objectsPerRow * 256;
  }

  /** Lets the operator evict to (and read back from) a cold store. Without one, evict() frees nothing. */
  attachColdStore(cold: ColdStore): void {
    this.cold = cold;
  }

  /** Refuse-new-keys policy: while on, readings that would create a new key are counted and dropped. */
  setRefusing(on: boolean): void {
    this.refusing = on;
  }

  /** End of the last window that contains pane p. */
  private lastEnd(p: number): number {
    return alignDown(p, this.slide, this.offset) + this.size;
  }

  /** End of the first window that contains pane p. */
  private firstEnd(p: number): number {
    const s = alignDown(p - this.size, this.slide, this.offset) + this.slide;
    return s + this.size;
  }

  process(items: readonly Reading[], ctx: OperatorContext<WindowResult>): void {
    const keyOf = this.keys.keyOf;
    const layout = this.layout;
    const pool = this.pool;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      const t = r.eventTime;
      let table: Map<string, number>;
      let firstEnd: number;
      let p: number;
      if (t >= this.cacheStart && t < this.cacheStart + this.pane) {
        table = this.cacheTable!;
        firstEnd = this.cacheFirstEnd;
        p = this.cacheStart;
      } else {
        p = alignDown(t, this.pane, this.offset);
        const lastEnd = this.lastEnd(p);
        if (this.wm >= lastEnd + this.lateness) {
          this.dropLate(r, keyOf(r), (lastEnd - this.firstEnd(p)) / this.slide + 1, ctx);
          continue;
        }
        let tb = this.panes.get(p);
        if (tb === undefined) tb = this.addPane(p);
        table = tb;
        firstEnd = this.firstEnd(p);
        this.cacheStart = p;
        this.cacheTable = tb;
        this.cacheFirstEnd = firstEnd;
      }
      const key = keyOf(r);
      let row = table.get(key);
      if (row === undefined) {
        row = this.loadOrCreate(p, key, table);
        if (row < 0) continue;
      }
      layout.add(pool, row, r);
      this.touched[row] = 1;
      if (this.dirtyBit[row] === 0) {
        this.dirtyBit[row] = 1;
        this.dirtyRows.push(row);
      }
      this.counters.accepted++;
      if (this.wm >= firstEnd) this.lateUpdate(r, key, ctx);
    }
  }

  private loadOrCreate(p: number, key: string, table: Map<string, number>): number {
    if (this.cold !== null && (this.coldCount.get(p) ?? 0) > 0) {
      const rk = p + '|' + key;
      const v = this.cold.get(rk) as AccumulatorState | undefined;
      if (v !== undefined) {
        const row = this.newRow(p, key, table);
        this.layout.loadRow(this.pool, row, v);
        this.cold.delete([rk]);
        this.coldCount.set(p, this.coldCount.get(p)! - 1);
        this.coldRows--;
        if (this.dirtyCold.delete(rk)) {
          this.dirtyBit[row] = 1;
          this.dirtyRows.push(row);
        }
        return row;
      }
    }
    if (this.refusing) {
      this.refused++;
      return -1;
    }
    return this.newRow(p, key, table);
  }

  private newRow(p: number, key: string, table: Map<string, number>): number {
    const row = this.pool.alloc();
    if (row >= this.rowKey.length) this.growRows();
    this.rowPane[row] = p;
    this.rowKey[row] = key;
    this.dirtyBit[row] = 0;
    this.touched[row] = 0;
    table.set(key, row);
    return row;
  }

  private freeRow(row: number): void {
    this.pool.release(row);
    this.rowKey[row] = null;
    this.dirtyBit[row] = 0;
    this.touched[row] = 0;
  }

  private growRows(): void {
    let n = this.rowKey.length;
    while (n <= this.pool.highWater) n = Math.ceil(n * 1.5);
    const rp = new Float64Array(n);
    rp.set(this.rowPane);
    this.rowPane = rp;
    const db = new Uint8Array(n);
    db.set(this.dirtyBit);
    this.dirtyBit = db;
    const tb = new Uint8Array(n);
    tb.set(this.touched);
    this.touched = tb;
    const rk = new Array<string | null>(n).fill(null);
    for (let i = 0; i < this.rowKey.length; i++) rk[i] = this.rowKey[i]!;
    this.rowKey = rk;
  }

  /** A reading landed in a pane some of whose windows already fired. */
  private lateUpdate(r: Reading, key: string, ctx: OperatorContext<WindowResult>): void {
    const p = alignDown(r.eventTime, this.pane, this.offset);
    let missed = 0;
    let updated = false;
    for (let e = this.firstEnd(p), last = this.lastEnd(p); e <= last && e <= this.wm; e += this.slide) {
      if (this.wm >= e + this.lateness) {
        missed++;
        continue;
      }
      let d = this.dirty.get(e);
      if (d === undefined) this.dirty.set(e, (d = new Set()));
      d.add(key);
      updated = true;
    }
    if (updated) this.counters.lateAccepted++;
    // The pane is alive, so some window still takes the reading: it is late only for the others.
    if (missed > 0) this.dropLate(r, key, missed, ctx, true);
  }

  private dropLate(r: Reading, key: string, missed: number, ctx: OperatorContext<WindowResult>, partly = false): void {
    if (partly) this.counters.latePartial++;
    else this.counters.lateDropped++;
    ctx.side({ type: 'late', pipeline: this.pipeline, key: this.keys.toObject(key), reading: r, watermark: this.wm, missedWindows: missed });
  }

  private addPane(p: number): Map<string, number> {
    const tb = new Map<string, number>();
    this.panes.set(p, tb);
    const a = this.paneStarts;
    if (a.length === 0 || a[a.length - 1]! < p) a.push(p);
    else {
      let lo = 0;
      let hi = a.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (a[mid]! < p) lo = mid + 1;
        else hi = mid;
      }
      a.splice(lo, 0, p);
    }
    return tb;
  }

  onWatermark(wm: Watermark, ctx: OperatorContext<WindowResult>): void {
    this.flushCorrections(ctx);
    if (!(wm.time > this.wm)) return;
    const prev = this.wm;
    this.wm = wm.time;
    this.fire(prev, wm.time, ctx);
    this.cleanup();
  }

  finish(ctx: OperatorContext<WindowResult>): void {
    this.onWatermark({ time: Number.POSITIVE_INFINITY, processingTime: Number.POSITIVE_INFINITY }, ctx);
  }

  /** Fires every window with live panes whose end is in (from, to], in end order. */
  private fire(from: number, to: number, ctx: OperatorContext<WindowResult>): void {
    const starts = this.paneStarts;
    if (starts.length === 0) return;
    let idx = 0;
    let e = from === Number.NEGATIVE_INFINITY ? this.firstEnd(starts[0]!) : alignDown(from, this.slide, this.offset + this.size) + this.slide;
    for (;;) {
      while (idx < starts.length && starts[idx]! < e - this.size) idx++;
      if (idx >= starts.length) break;
      const p0 = starts[idx]!;
      if (p0 >= e) {
        e = Math.max(e + this.slide, this.firstEnd(p0));
        continue;
      }
      if (e > to) break;
      this.emitWindow(e, idx, ctx);
      e += this.slide;
    }
  }

  /** A pane's rows in key order, memory and cold merged (a key is in one or the other, never both). */
  private *paneRows(p: number): Generator<readonly [string, RowSource]> {
    const mem = this.panes.get(p);
    const keys = mem === undefined ? [] : [...mem.keys()].sort(cmp);
    const coldIt = this.cold !== null && (this.coldCount.get(p) ?? 0) > 0 ? this.cold.scanPrefix(p + '|')[Symbol.iterator]() : null;
    const plen = String(p).length + 1;
    let c = coldIt?.next();
    let i = 0;
    while (i < keys.length || (c !== undefined && !c.done)) {
      const ck = c !== undefined && !c.done ? c.value[0].slice(plen) : null;
      if (ck === null || (i < keys.length && keys[i]! < ck)) {
        yield [keys[i]!, mem!.get(keys[i]!)!];
        i++;
      } else {
        yield [ck, c!.value![1] as AccumulatorState];
        c = coldIt!.next();
      }
    }
  }

  /** Emits the window ending at `end`: a k-way merge by key over its panes' sorted rows. */
  private emitWindow(end: number, firstIdx: number, ctx: OperatorContext<WindowResult>): void {
    const start = end - this.size;
    const keep = this.lateness > 0 && end + this.lateness > this.wm;
    const vmap = keep ? new Map<string, number>() : null;
    const starts = this.paneStarts;
    const its: Generator<readonly [string, RowSource]>[] = [];
    for (let i = firstIdx; i < starts.length && starts[i]! < end; i++) its.push(this.paneRows(starts[i]!));
    const heads = its.map((it) => it.next());
    for (;;) {
      let min: string | null = null;
      for (const h of heads) if (!h.done && (min === null || h.value[0] < min)) min = h.value[0];
      if (min === null) break;
      let m = -1;
      let single: number | null = null;
      let n = 0;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i]!;
        if (h.done || h.value[0] !== min) continue;
        const src = h.value[1];
        n++;
        if (typeof src === 'number' && n === 1) single = src;
        else {
          if (m < 0) {
            m = this.scratch.alloc();
            if (single !== null) this.layout.merge(this.scratch, m, this.pool, single);
          }
          this.mergeSource(m, src);
        }
        heads[i] = its[i]!.next();
      }
      if (m < 0) this.emit(ctx, min, start, end, 1, this.pool, single!);
      else {
        this.emit(ctx, min, start, end, 1, this.scratch, m);
        this.scratch.release(m);
      }
      vmap?.set(min, 1);
    }
    if (vmap !== null && vmap.size > 0) this.versions.set(end, vmap);
  }

  /** Adds a row (memory or cold) into scratch row m. */
  private mergeSource(m: number, src: RowSource): void {
    if (typeof src === 'number') {
      this.layout.merge(this.scratch, m, this.pool, src);
      return;
    }
    const tmp = this.scratch.alloc();
    this.layout.loadRow(this.scratch, tmp, src);
    this.layout.merge(this.scratch, m, this.scratch, tmp);
    this.scratch.release(tmp);
  }

  private emit(ctx: OperatorContext<WindowResult>, key: string, start: number, end: number, version: number, pool: AccumulatorPool, row: number): void {
    if (version === 1) this.counters.fired++;
    else this.counters.corrections++;
    ctx.emit({
      type: 'window',
      pipeline: this.pipeline,
      key: this.keys.toObject(key),
      start,
      end,
      version,
      count: this.layout.count(pool, row),
      values: this.layout.values(pool, row),
    });
  }

  private flushCorrections(ctx: OperatorContext<WindowResult>): void {
    if (this.dirty.size === 0) return;
    const ends = [...this.dirty.keys()].sort((a, b) => a - b);
    for (const end of ends) {
      let vmap = this.versions.get(end);
      if (vmap === undefined) this.versions.set(end, (vmap = new Map()));
      for (const key of [...this.dirty.get(end)!].sort(cmp)) {
        const m = this.scratch.alloc();
        for (let p = end - this.size; p < end; p += this.pane) {
          const row = this.panes.get(p)?.get(key);
          if (row !== undefined) this.layout.merge(this.scratch, m, this.pool, row);
          else if (this.cold !== null && (this.coldCount.get(p) ?? 0) > 0) {
            const v = this.cold.get(p + '|' + key) as AccumulatorState | undefined;
            if (v !== undefined) this.mergeSource(m, v);
          }
        }
        const v = (vmap.get(key) ?? 0) + 1;
        vmap.set(key, v);
        this.emit(ctx, key, end - this.size, end, v, this.scratch, m);
        this.scratch.release(m);
      }
    }
    this.dirty.clear();
  }

  /** Drops panes and versions no window can use any more. */
  private cleanup(): void {
    const starts = this.paneStarts;
    let n = 0;
    while (n < starts.length && this.lastEnd(starts[n]!) + this.lateness <= this.wm) {
      const p = starts[n]!;
      for (const row of this.panes.get(p)!.values()) this.freeRow(row);
      this.panes.delete(p);
      const c = this.coldCount.get(p) ?? 0;
      if (c > 0) {
        this.cold!.deletePrefix(p + '|');
        this.coldRows -= c;
      }
      this.coldCount.delete(p);
      this.closedPanes.push(p);
      n++;
    }
    if (n > 0) {
      this.paneStarts = starts.slice(n);
      this.cacheStart = Number.NaN;
      this.cacheTable = null;
    }
    for (const end of this.versions.keys()) {
      if (end + this.lateness <= this.wm) this.versions.delete(end);
    }
  }

  // ---- keyed state: checkpoints, restore, memory ----

  private meta(): Meta {
    return {
      watermark: this.wm,
      versions: [...this.versions].map(([e, m]) => [e, [...m]]),
      dirty: [...this.dirty].map(([e, s]) => [e, [...s]]),
    };
  }

  deltaSize(): number {
    // dirtyRows may list a row twice (dirtied, drained by eviction, dirtied again): an upper bound.
    return this.dirtyRows.length + this.dirtyCold.size;
  }

  drainDelta(visit?: DeltaVisitor): StateDelta {
    const upserts: (readonly [string, unknown])[] = [];
    const out: DeltaVisitor = visit ?? ((k, v) => void upserts.push([k, v]));
    for (const row of this.dirtyRows) {
      if (this.dirtyBit[row] === 0) continue;
      this.dirtyBit[row] = 0;
      out(this.rowPane[row]! + '|' + this.rowKey[row]!, this.layout.saveRow(this.pool, row));
    }
    this.dirtyRows = [];
    for (const rk of this.dirtyCold) {
      const v = this.cold?.get(rk);
      if (v !== undefined) out(rk, v);
    }
    this.dirtyCold.clear();
    out(META_KEY, this.meta());
    const deletePrefixes = this.closedPanes.map((p) => p + '|');
    this.closedPanes = [];
    return { upserts, deletes: [], deletePrefixes };
  }

  beginRestore(): void {
    for (const tb of this.panes.values()) for (const row of tb.values()) this.freeRow(row);
    this.panes.clear();
    this.paneStarts = [];
    this.coldCount.clear();
    this.coldRows = 0;
    this.versions.clear();
    this.dirty.clear();
    this.dirtyRows = [];
    this.dirtyCold.clear();
    this.closedPanes = [];
    this.cacheStart = Number.NaN;
    this.cacheTable = null;
    this.wm = Number.NEGATIVE_INFINITY;
  }

  restoreRow(key: string, value: unknown): void {
    if (key === META_KEY) {
      const m = value as Meta;
      this.wm = m.watermark;
      for (const [e, kv] of m.versions) this.versions.set(e, new Map(kv));
      for (const [e, ks] of m.dirty) this.dirty.set(e, new Set(ks));
      return;
    }
    const bar = key.indexOf('|');
    const p = Number(key.slice(0, bar));
    if (bar <= 0 || !Number.isFinite(p)) throw new WeirError('E_STATE_VERSION', `time window: bad state row key ${JSON.stringify(key)}`);
    const k = key.slice(bar + 1);
    const tb = this.panes.get(p) ?? this.addPane(p);
    const row = this.newRow(p, k, tb);
    this.layout.loadRow(this.pool, row, value as AccumulatorState);
  }

  memoryBytes(): number {
    let vers = 0;
    for (const m of this.versions.values()) vers += m.size;
    return this.pool.live * this.rowCost + vers * 48 + this.panes.size * 64;
  }

  /** Second-chance (clock) eviction: rows touched since the hand last passed get another round. */
  evict(bytes: number): number {
    if (this.cold === null || bytes <= 0) return 0;
    const out: (readonly [string, unknown])[] = [];
    let freed = 0;
    const n = this.pool.highWater;
    for (let scanned = 0; scanned < 2 * n && freed < bytes; scanned++) {
      const row = this.clockHand;
      this.clockHand = this.clockHand + 1 >= n ? 0 : this.clockHand + 1;
      const key = this.rowKey[row];
      if (key === null || key === undefined) continue;
      if (this.touched[row] === 1) {
        this.touched[row] = 0;
        continue;
      }
      const p = this.rowPane[row]!;
      const rk = p + '|' + key;
      out.push([rk, this.layout.saveRow(this.pool, row)]);
      if (this.dirtyBit[row] === 1) this.dirtyCold.add(rk);
      this.panes.get(p)!.delete(key);
      this.coldCount.set(p, (this.coldCount.get(p) ?? 0) + 1);
      this.coldRows++;
      this.freeRow(row);
      freed += this.rowCost;
    }
    if (out.length > 0) this.cold.put(out);
    return freed;
  }

  spilledRows(): number {
    return this.coldRows;
  }

  refusedReadings(): number {
    return this.refused;
  }

  // ---- full snapshots (replay tools, tests) ----

  snapshot(): NamedState<'window.time', TimeWindowState> {
    const rows: [string, AccumulatorState][] = [];
    for (const p of this.paneStarts) {
      for (const [k, src] of this.paneRows(p)) {
        rows.push([p + '|' + k, typeof src === 'number' ? this.layout.saveRow(this.pool, src) : src]);
      }
    }
    return { name: 'window.time', version: 2, data: { ...this.meta(), rows } };
  }

  restore(state: NamedState<'window.time', TimeWindowState>): void {
    if (state.name !== 'window.time' || state.version !== 2) {
      throw new WeirError('E_STATE_VERSION', `time window cannot restore ${state.name} v${state.version}`);
    }
    this.beginRestore();
    if (this.cold !== null) for (const p of [...this.coldCount.keys()]) this.cold.deletePrefix(p + '|');
    const { rows, ...meta } = state.data;
    this.restoreRow(META_KEY, meta);
    for (const [k, v] of rows) this.restoreRow(k, v);
  }

  stateBytes(): number {
    return this.memoryBytes();
  }

  /** Number of (key, pane) accumulators alive in memory. */
  liveRows(): number {
    return this.pool.live;
  }
}
