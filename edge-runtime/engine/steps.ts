import type { Reading, TagValue } from './types.ts';
import type { NamedState, Operator, OperatorContext } from './operator.ts';
import type { Evaluator } from '../pipeline/expr.ts';

const NO_STATE: NamedState<'stateless', null> = { name: 'stateless', version: 1, data: null };

/** The hooks of an operator that keeps no state and reacts to no watermark. */
abstract class StatelessOperator {
  onWatermark(): void {}
  finish(): void {}
  snapshot(): NamedState<'stateless', null> {
    return NO_STATE;
  }
  restore(): void {}
  stateBytes(): number {
    return 0;
  }
}

/** Keeps readings for which the predicate is exactly `true`. Stateless. */
export class FilterOperator extends StatelessOperator implements Operator<Reading, Reading, NamedState<'stateless', null>> {
  readonly kind = 'filter';
  dropped = 0;
  constructor(private readonly pred: Evaluator) {
    super();
  }
  process(items: readonly Reading[], ctx: OperatorContext<Reading>): void {
    const pred = this.pred;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      if (pred(r) === true) ctx.emit(r);
      else this.dropped++;
    }
  }
}

export interface Assignment {
  /** `value`, `metric`, `deviceId`, `eventTime` or `tags.NAME`. */
  readonly field: string;
  readonly eval: Evaluator;
}

/**
 * Rewrites fields of each reading (new objects; inputs are never mutated).
 * A reading whose new value is not a finite number, or whose new id/metric is
 * not a string, is dropped and counted: a map never lets a NaN into a window.
 */
export class MapOperator extends StatelessOperator implements Operator<Reading, Reading, NamedState<'stateless', null>> {
  readonly kind = 'map';
  invalid = 0;
  constructor(private readonly assignments: readonly Assignment[]) {
    super();
  }
  process(items: readonly Reading[], ctx: OperatorContext<Reading>): void {
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      let deviceId = r.deviceId;
      let metric = r.metric;
      let value = r.value;
      let eventTime = r.eventTime;
      let tags: Record<string, TagValue> | undefined;
      let ok = true;
      for (const a of this.assignments) {
        const v = a.eval(r);
        switch (a.field) {
          case 'value': if (typeof v === 'number' && Number.isFinite(v)) value = v; else ok = false; break;
          case 'eventTime': if (typeof v === 'number' && Number.isFinite(v)) eventTime = v; else ok = false; break;
          case 'metric': if (typeof v === 'string' && v !== '') metric = v; else ok = false; break;
          case 'deviceId': if (typeof v === 'string' && v !== '') deviceId = v; else ok = false; break;
          default: {
            const name = a.field.startsWith('tags.') ? a.field.slice(5) : a.field;
            tags ??= { ...r.tags };
            if (v === null || v === undefined) delete tags[name];
            else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') tags[name] = v;
            else ok = false;
          }
        }
      }
      if (!ok) {
        this.invalid++;
        continue;
      }
      const out: Reading = { deviceId, metric, value, eventTime, arrivalTime: r.arrivalTime };
      const t = tags ?? r.tags;
      ctx.emit(t === undefined ? out : { ...out, tags: t });
    }
  }
}
