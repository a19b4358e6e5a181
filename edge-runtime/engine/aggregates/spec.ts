import type { FieldPath } from '../key.ts';

export const AGGREGATE_FNS = [
  'count', 'sum', 'min', 'max', 'mean',
  'variance', 'stddev', 'varianceSample', 'stddevSample',
  'first', 'last', 'rate', 'quantile', 'distinct',
] as const;

export type AggregateFn = (typeof AGGREGATE_FNS)[number];

/**
 * One aggregate of a window. `field` defaults to `value`. Every aggregate is
 * mergeable and O(1) in memory per key and window:
 * - count/sum/min/max: exact.
 * - mean, variance, stddev: Welford's online algorithm, merged with Chan et al.'s
 *   parallel formula. `variance`/`stddev` are population (÷n);
 *   `varianceSample`/`stddevSample` divide by n−1 (null below 2 values).
 * - first/last: the value with the smallest/largest event time (ties: the first/last to arrive).
 * - rate: (last − first) / (lastTime − firstTime) per second — the rate of change of a
 *   counter-like value; null when the window spans one instant.
 * - quantile: DDSketch; the answer is within `accuracy` (relative, default 1%) of the exact
 *   value at rank ⌊q·(n−1)⌋.
 * - distinct: HyperLogLog with 2^precision registers (default 12: standard error ≈ 1.6%).
 */
export interface AggregateSpec {
  readonly fn: AggregateFn;
  readonly field?: FieldPath;
  /** quantile: q in [0, 1]. */
  readonly q?: number;
  /** quantile: relative accuracy of the sketch (default 0.01). */
  readonly accuracy?: number;
  /** distinct: HyperLogLog precision p in [4, 16] (default 12). */
  readonly precision?: number;
  /** Output name (default derived: `mean`, `p95`, `max_humidity`, ...). */
  readonly as?: string;
}

export const DEFAULT_QUANTILE_ACCURACY = 0.01;
export const DEFAULT_HLL_PRECISION = 12;

export function defaultAggregateName(spec: AggregateSpec): string {
  const field = spec.field ?? 'value';
  let base: string;
  if (spec.fn === 'quantile') {
    const pct = Math.round((spec.q ?? 0.5) * 100000) / 1000;
    base = 'p' + String(pct).replace('.', '_');
  } else {
    base = spec.fn;
  }
  if (field === 'value') return base;
  return `${base}_${field.startsWith('tags.') ? field.slice(5) : field}`;
}

/** Shorthands accepted in pipeline files: `p50`, `p90`, `p95`, `p99`, `p99.9`. */
export function parseQuantileShorthand(fn: string): number | null {
  const m = /^p(\d{1,2}(?:[._]\d+)?)$/.exec(fn);
  if (!m) return null;
  const q = Math.round(Number(m[1]!.replace('_', '.')) * 1e7) / 1e9;
  return q > 0 && q < 1 ? q : null;
}
