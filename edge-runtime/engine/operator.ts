import type { Message, Watermark } from './types.ts';
import type { SideRecord } from './outputs.ts';

/**
 * What an operator may do while the runtime calls one of its hooks: pass
 * items downstream, pass a watermark downstream, or put a record on a side
 * output (late data, anomalies of the step itself, ...). Nothing else: no
 * clock, no I/O.
 */
export interface OperatorContext<O> {
  emit(item: O): void;
  emitWatermark(wm: Watermark): void;
  side(record: SideRecord): void;
}

/**
 * Plain data an operator persists, with a name and a version so that a
 * checkpoint written by one build is refused, not misread, by another.
 */
export interface NamedState<N extends string = string, V = unknown> {
  readonly name: N;
  readonly version: number;
  readonly data: V;
}

/**
 * An operator: the runtime owns the loop and calls these hooks. Operators
 * keep their state in memory, hand it out as named plain data at a barrier
 * (`snapshot`), and take it back before the first message (`restore`).
 * snapshot → restore → snapshot must round-trip exactly.
 */
export interface Operator<I, O, S extends NamedState = NamedState> {
  /** e.g. `window.tumbling`, `filter` — for metrics and error messages. */
  readonly kind: string;
  restore(state: S): void;
  /** Hot path: a batch of items, in order. */
  process(items: readonly I[], ctx: OperatorContext<O>): void;
  /**
   * The input watermark advanced (or processing time did). The operator fires
   * what became complete, then the runtime forwards the watermark unless the
   * operator forwarded one itself (`forwardsWatermarks`).
   */
  onWatermark(wm: Watermark, ctx: OperatorContext<O>): void;
  /** End of data: flush everything still open. */
  finish(ctx: OperatorContext<O>): void;
  snapshot(): S;
  /** Approximate bytes of state held (for budgets and metrics). */
  stateBytes(): number;
  /** True if the operator emits its own watermarks (e.g. the watermark generator). */
  readonly forwardsWatermarks?: boolean;
}

export type AnyOperator = Operator<any, any, NamedState>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Collects what a hook emitted, as messages in order. */
export class MessageBuffer<O> implements OperatorContext<O> {
  messages: Message<O>[] = [];
  sides: SideRecord[] = [];
  private current: O[] | null = null;

  /** Called when the open data batch reaches `chunk` items, so a hook emitting millions streams them. */
  onFull: (() => void) | null = null;
  chunk = 4096;

  emit(item: O): void {
    if (this.current === null) {
      this.current = [];
      this.messages.push({ kind: 'data', items: this.current });
    }
    this.current.push(item);
    if (this.current.length >= this.chunk && this.onFull !== null) this.onFull();
  }

  emitWatermark(wm: Watermark): void {
    this.current = null;
    this.messages.push({ kind: 'watermark', watermark: wm });
  }

  pushMessage(m: Message<O>): void {
    this.current = null;
    this.messages.push(m);
  }

  side(record: SideRecord): void {
    this.sides.push(record);
  }

  take(): Message<O>[] {
    const out = this.messages;
    this.messages = [];
    this.current = null;
    return out;
  }
}
