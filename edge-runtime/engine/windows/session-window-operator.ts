import type { Reading, Watermark } from '../types.ts';
import type { NamedState, Operator, OperatorContext } from '../operator.ts';
import type { WindowResult } from '../outputs.ts';
import type { Keying } from '../key.ts';
import { AggregateLayout, type AccumulatorPool, type AccumulatorState } from '../aggregates/layout.ts';
import type { AggregateSpec } from '../aggregates/spec.ts';
import { IndexedMinHeap, type HeapItem } from '../indexed-heap.ts';
import type { WindowCounters } from './time-window-operator.ts';
import { WeirError } from '../../errors.ts';

export interface SessionWindowSpec {
  /** A session ends after this much event time without a reading (ms). */
  readonly gapMs: number;
  /** Optional cap: a session never spans more than this from its first to its last reading (ms). */
  readonly maxDurationMs: number | null;
  readonly allowedLatenessMs: number;
}

interface Identity {
  start: number;
  end: number;
  version: number;
}

interface Session extends HeapItem {
  readonly id: number;
  readonly key: string;
  start: number;
  lastT: number;
  row: number;
  /** Highest version emitted in this session's lineage (0: never). */
  version: number;
  /** What this session last emitted as (null: never). */
  emitted: Identity | null;
  /** Emitted identities of sessions merged into this one, to retract at its next emission. */
  absorbed: Identity[];
  /** True once emitted and kept open for late updates. */
  fired: boolean;
}

type SessionRow = [id: number, key: string, start: number, lastT: number, acc: AccumulatorState, version: number, emitted: Identity | null, absorbed: Identity[], fired: 0 | 1];

export interface SessionWindowState {
  watermark: number;
  nextId: number;
  sessions: SessionRow[];
  dirty: number[];
}

/**
 * Event-time session windows per key: a session is [first reading, last reading + gap).
 * Readings within `gap` of a session join it; a reading that bridges two sessions
 * merges them. A session fires when the watermark reaches its end. Within
 * `allowedLateness` a fired session still grows or merges: its next emission
 * carries a higher version and, when its identity (start, end) changed,
 * `retracts` naming the emitted identities it replaces.
 *
 * With `maxDuration`, a reading joins only sessions it keeps within the cap;
 * otherwise it starts a new one. Then, unlike without a cap, session boundaries
 * of out-of-order data depend on arrival order.
 */
export class SessionWindowOperator implements Operator<Reading, WindowResult, NamedState<'window.session', SessionWindowState>> {
  readonly kind = 'window.session';
  readonly counters: WindowCounters = { accepted: 0, lateDropped: 0, latePartial: 0, lateAccepted: 0, corrections: 0, fired: 0 };
  private readonly gap: number;
  private readonly maxDur: number;
  private readonly lateness: number;
  private readonly pool: AccumulatorPool;
  private readonly byKey = new Map<string, Session[]>();
  private readonly heap = new IndexedMinHeap<Session>((a, b) => {
    const ta = this.actionTime(a);
    const tb = this.actionTime(b);
    return ta < tb || (ta === tb && a.id < b.id);
  });
  private readonly byId = new Map<number, Session>();
  private readonly dirty = new Set<Session>();
  private wm = Number.NEGATIVE_INFINITY;
  private nextId = 0;

  constructor(
    private readonly pipeline: string,
    spec: SessionWindowSpec,
    private readonly keys: Keying,
    aggregates: readonly AggregateSpec[],
    private readonly layout: AggregateLayout = new AggregateLayout(aggregates),
  ) {
    this.gap = spec.gapMs;
    this.maxDur = spec.maxDurationMs ?? Number.POSITIVE_INFINITY;
    this.lateness = spec.allowedLatenessMs;
    this.pool = this.layout.newPool(256);
  }

  private end(s: Session): number {
    return s.lastT + this.gap;
  }

  private actionTime(s: Session): number {
    return s.fired ? s.lastT + this.gap + this.lateness : s.lastT + this.gap;
  }

  process(items: readonly Reading[], ctx: OperatorContext<WindowResult>): void {
    for (let i = 0; i < items.length; i++) this.add(items[i]!, ctx);
  }

  private add(r: Reading, ctx: OperatorContext<WindowResult>): void {
    const key = this.keys.keyOf(r);
    const t = r.eventTime;
    let list = this.byKey.get(key);
    // Sessions whose [start, end) overlaps the reading's [t, t + gap).
    let cands: Session[] = [];
    if (list !== undefined) {
      for (const s of list) if (t < s.lastT + this.gap && s.start < t + this.gap) cands.push(s);
    }
    if (cands.length > 0 && this.maxDur !== Number.POSITIVE_INFINITY) cands = this.withinCap(cands, t);
    if (cands.length === 0) {
      if (t + this.gap + this.lateness <= this.wm) {
        this.counters.lateDropped++;
        ctx.side({ type: 'late', pipeline: this.pipeline, key: this.keys.toObject(key), reading: r, watermark: this.wm, missedWindows: 1 });
        return;
      }
      const s: Session = {
        id: this.nextId++, key, start: t, lastT: t, row: this.pool.alloc(),
        version: 0, emitted: null, absorbed: [], fired: false, heapIndex: -1,
      };
      this.layout.add(this.pool, s.row, r);
      if (list === undefined) this.byKey.set(key, (list = []));
      insertByStart(list, s);
      this.byId.set(s.id, s);
      this.heap.push(s);
      this.counters.accepted++;
      if (t + this.gap <= this.wm) this.counters.lateAccepted++;
      return;
    }
    const target = cands[0]!;
    let fired = target.fired;
    for (let i = 1; i < cands.length; i++) {
      const o = cands[i]!;
      this.layout.merge(this.pool, target.row, this.pool, o.row);
      target.start = Math.min(target.start, o.start);
      target.lastT = Math.max(target.lastT, o.lastT);
      target.version = Math.max(target.version, o.version);
      if (o.emitted !== null) target.absorbed.push(o.emitted);
      target.absorbed.push(...o.absorbed);
      fired ||= o.fired;
      this.remove(o);
    }
    this.layout.add(this.pool, target.row, r);
    if (t < target.start) target.start = t;
    if (t > target.lastT) target.lastT = t;
    this.counters.accepted++;
    // A fired session that grows past the watermark waits for it again; otherwise it is corrected now.
    const complete = this.end(target) <= this.wm;
    if (fired && complete) {
      target.fired = true;
      this.dirty.add(target);
      this.counters.lateAccepted++;
    } else {
      if (target.fired) this.dirty.delete(target);
      target.fired = false;
      if (complete) this.counters.lateAccepted++;
    }
    list!.sort((a, b) => a.start - b.start || a.id - b.id);
    this.heap.update(target);
  }

  /** With a duration cap: all candidates if the merge fits, else the latest-starting one that fits, else none. */
  private withinCap(cands: Session[], t: number): Session[] {
    let lo = t;
    let hi = t;
    for (const s of cands) {
      lo = Math.min(lo, s.start);
      hi = Math.max(hi, s.lastT);
    }
    if (hi - lo < this.maxDur) return cands;
    for (let i = cands.length - 1; i >= 0; i--) {
      const s = cands[i]!;
      if (Math.max(s.lastT, t) - Math.min(s.start, t) < this.maxDur) return [s];
    }
    return [];
  }

  private remove(s: Session): void {
    this.heap.remove(s);
    this.dirty.delete(s);
    this.byId.delete(s.id);
    const list = this.byKey.get(s.key)!;
    list.splice(list.indexOf(s), 1);
    if (list.length === 0) this.byKey.delete(s.key);
    this.pool.release(s.row);
  }

  onWatermark(wm: Watermark, ctx: OperatorContext<WindowResult>): void {
    for (const s of this.dirty) this.emit(s, ctx);
    this.dirty.clear();
    if (wm.time > this.wm) this.wm = wm.time;
    for (let s = this.heap.peek(); s !== undefined && this.actionTime(s) <= this.wm; s = this.heap.peek()) {
      if (!s.fired) {
        this.emit(s, ctx);
        if (this.lateness > 0 && this.end(s) + this.lateness > this.wm) {
          s.fired = true;
          this.heap.update(s);
          continue;
        }
      }
      this.remove(s);
    }
  }

  finish(ctx: OperatorContext<WindowResult>): void {
    this.onWatermark({ time: Number.POSITIVE_INFINITY, processingTime: Number.POSITIVE_INFINITY }, ctx);
  }

  private emit(s: Session, ctx: OperatorContext<WindowResult>): void {
    const start = s.start;
    const end = this.end(s);
    const retracts: Identity[] = [...s.absorbed];
    if (s.emitted !== null && (s.emitted.start !== start || s.emitted.end !== end)) retracts.push(s.emitted);
    const version = s.version + 1;
    if (s.emitted === null && s.absorbed.length === 0) this.counters.fired++;
    else this.counters.corrections++;
    const out: WindowResult = {
      type: 'window',
      pipeline: this.pipeline,
      key: this.keys.toObject(s.key),
      start,
      end,
      version,
      count: this.layout.count(this.pool, s.row),
      values: this.layout.values(this.pool, s.row),
      ...(retracts.length > 0 ? { retracts } : {}),
    };
    ctx.emit(out);
    s.version = version;
    s.emitted = { start, end, version };
    s.absorbed = [];
  }

  snapshot(): NamedState<'window.session', SessionWindowState> {
    const sessions: SessionRow[] = [];
    for (const s of [...this.byId.values()].sort((a, b) => a.id - b.id)) {
      sessions.push([s.id, s.key, s.start, s.lastT, this.layout.saveRow(this.pool, s.row), s.version,
        s.emitted === null ? null : { ...s.emitted }, s.absorbed.map((a) => ({ ...a })), s.fired ? 1 : 0]);
    }
    return {
      name: 'window.session',
      version: 1,
      data: { watermark: this.wm, nextId: this.nextId, sessions, dirty: [...this.dirty].map((s) => s.id) },
    };
  }

  restore(state: NamedState<'window.session', SessionWindowState>): void {
    if (state.name !== 'window.session' || state.version !== 1) {
      throw new WeirError('E_STATE_VERSION', `session window cannot restore ${state.name} v${state.version}`);
    }
    for (const s of [...this.byId.values()]) this.remove(s);
    const d = state.data;
    this.wm = d.watermark;
    this.nextId = d.nextId;
    for (const [id, key, start, lastT, acc, version, emitted, absorbed, fired] of d.sessions) {
      const s: Session = { id, key, start, lastT, row: this.pool.alloc(), version, emitted, absorbed, fired: fired === 1, heapIndex: -1 };
      this.layout.loadRow(this.pool, s.row, acc);
      let list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, (list = []));
      insertByStart(list, s);
      this.byId.set(id, s);
      this.heap.push(s);
    }
    this.dirty.clear();
    for (const id of d.dirty) this.dirty.add(this.byId.get(id)!);
  }

  stateBytes(): number {
    return this.pool.bytes() + this.byId.size * 160;
  }
}

function insertByStart(list: Session[], s: Session): void {
  let i = list.length;
  while (i > 0 && (list[i - 1]!.start > s.start || (list[i - 1]!.start === s.start && list[i - 1]!.id > s.id))) i--;
  list.splice(i, 0, s);
}
