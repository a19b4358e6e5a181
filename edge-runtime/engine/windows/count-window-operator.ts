import type { Reading } from '../types.ts';
import type { NamedState, Operator, OperatorContext } from '../operator.ts';
import type { WindowResult } from '../outputs.ts';
import type { Keying } from '../key.ts';
import { AggregateLayout, type AccumulatorPool, type AccumulatorState } from '../aggregates/layout.ts';
import type { AggregateSpec } from '../aggregates/spec.ts';
import type { WindowCounters } from './time-window-operator.ts';
import { WeirError } from '../../errors.ts';

export interface CountWindowSpec {
  /** Readings per window, per key. */
  readonly size: number;
}

export interface CountWindowState {
  keys: [key: string, index: number, acc: AccumulatorState][];
}

interface Open {
  index: number;
  row: number;
}

/**
 * Count windows: every `size` readings of a key, in arrival order, form a window.
 * They fire on the n-th reading, not on watermarks, so lateness does not apply.
 * start/end are the smallest event time and the largest + 1 of the readings
 * inside; `index` numbers a key's windows from 0. At end of data a partial
 * window is emitted with `partial: true`.
 */
export class CountWindowOperator implements Operator<Reading, WindowResult, NamedState<'window.count', CountWindowState>> {
  readonly kind = 'window.count';
  readonly counters: WindowCounters = { accepted: 0, lateDropped: 0, latePartial: 0, lateAccepted: 0, corrections: 0, fired: 0 };
  private readonly n: number;
  private readonly pool: AccumulatorPool;
  private readonly open = new Map<string, Open>();

  constructor(
    private readonly pipeline: string,
    spec: CountWindowSpec,
    private readonly keys: Keying,
    aggregates: readonly AggregateSpec[],
    private readonly layout: AggregateLayout = new AggregateLayout(aggregates),
  ) {
    this.n = spec.size;
    this.pool = this.layout.newPool(256);
  }

  process(items: readonly Reading[], ctx: OperatorContext<WindowResult>): void {
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      const key = this.keys.keyOf(r);
      let o = this.open.get(key);
      if (o === undefined) this.open.set(key, (o = { index: 0, row: this.pool.alloc() }));
      this.layout.add(this.pool, o.row, r);
      this.counters.accepted++;
      if (this.layout.count(this.pool, o.row) >= this.n) {
        this.emit(key, o, false, ctx);
        this.pool.release(o.row);
        o.row = this.pool.alloc();
        o.index++;
      }
    }
  }

  onWatermark(): void {
    // Count windows ignore event-time progress.
  }

  finish(ctx: OperatorContext<WindowResult>): void {
    for (const [key, o] of this.open) {
      if (this.layout.count(this.pool, o.row) > 0) this.emit(key, o, true, ctx);
      this.pool.release(o.row);
    }
    this.open.clear();
  }

  private emit(key: string, o: Open, partial: boolean, ctx: OperatorContext<WindowResult>): void {
    const [tMin, tMax] = this.layout.timeRange(this.pool, o.row);
    this.counters.fired++;
    ctx.emit({
      type: 'window',
      pipeline: this.pipeline,
      key: this.keys.toObject(key),
      start: tMin,
      end: tMax + 1,
      version: 1,
      count: this.layout.count(this.pool, o.row),
      values: this.layout.values(this.pool, o.row),
      index: o.index,
      ...(partial ? { partial: true } : {}),
    });
  }

  snapshot(): NamedState<'window.count', CountWindowState> {
    const keys: CountWindowState['keys'] = [];
    for (const [key, o] of this.open) keys.push([key, o.index, this.layout.saveRow(this.pool, o.row)]);
    return { name: 'window.count', version: 1, data: { keys } };
  }

  restore(state: NamedState<'window.count', CountWindowState>): void {
    if (state.name !== 'window.count' || state.version !== 1) {
      throw new WeirError('E_STATE_VERSION', `count window cannot restore ${state.name} v${state.version}`);
    }
    for (const o of this.open.values()) this.pool.release(o.row);
    this.open.clear();
    for (const [key, index, acc] of state.data.keys) {
      const row = this.pool.alloc();
      this.layout.loadRow(this.pool, row, acc);
      this.open.set(key, { index, row });
    }
  }

  stateBytes(): number {
    return this.pool.bytes() + this.open.size * 64;
  }
}
