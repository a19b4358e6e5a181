import { Encoder } from 'cbor-x';
import type { AggregateValues, WindowResult } from '../engine/outputs.ts';
import { defaultAggregateName, type AggregateFn, type AggregateSpec } from '../engine/aggregates/spec.ts';
import { StateError } from './state-errors.ts';

/**
 * Downsampling of window results for the outbox quota (DESIGN invariant 6):
 * two results of one series whose windows are adjacent (a.end === b.start)
 * become one result over [a.start, b.end). Adjacent, not merely disjoint:
 * the merged span is then exactly the union of the windows it replaces, so
 * the receiver's rule below never swallows a window it was not built from.
 * Pure: no SQLite, no clock.
 *
 * What merges exactly (up to floating-point rounding) from the two results:
 * - count, sum, min, max: directly.
 * - first (from the earlier window), last (from the later one).
 * - mean, variance, stddev, varianceSample, stddevSample: from each side's
 *   n, mean and variance with Chan et al.'s parallel formula. n is the
 *   window count for the `value` field, else a `count` output of the same
 *   field; the mean is the `mean` output, else sum / n. When either is not
 *   among the outputs, the value cannot be recovered.
 * What cannot merge: rate (needs the first/last event times), quantile
 * (needs the sketch), distinct (needs the HyperLogLog registers), and any
 * output the spec does not describe. Those become null and are listed in
 * `merged.inexact`, so the cloud knows null means "lost to downsampling",
 * not "undefined".
 *
 * A merged result's identity is (pipeline, key, start, end) with version 1;
 * `merged.windows` says how many original windows it covers. The receiver
 * replaces every result of that pipeline and key inside [start, end) by it.
 */
export interface MergeInfo {
  readonly windows: number;
  readonly inexact: readonly string[];
}

export type OutboxWindow = WindowResult & { readonly merged?: MergeInfo };

export interface MergeOutput {
  readonly name: string;
  readonly fn: AggregateFn;
  readonly field: string;
}

export function mergePlan(specs: readonly AggregateSpec[]): MergeOutput[] {
  return specs.map((s) => ({ name: s.as ?? defaultAggregateName(s), fn: s.fn, field: s.field ?? 'value' }));
}

/** Two results can merge when they are of one pipeline and key, adjacent in time, and plain time windows. */
export function canMerge(a: OutboxWindow, b: OutboxWindow): boolean {
  return a.pipeline === b.pipeline && sameKey(a.key, b.key) && a.end === b.start &&
    a.retracts === undefined && b.retracts === undefined && a.index === undefined && b.index === undefined;
}

function sameKey(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** Merges `a` (earlier) and `b` (later). Throws E_STATE_ARGUMENT unless canMerge(a, b). */
export function mergeWindows(a: OutboxWindow, b: OutboxWindow, plan: readonly MergeOutput[]): OutboxWindow {
  if (!canMerge(a, b)) {
    throw new StateError('E_STATE_ARGUMENT', `windows [${a.start},${a.end}) and [${b.start},${b.end}) of ${a.pipeline} cannot merge`);
  }
  const values: AggregateValues = {};
  const inexact = new Set<string>([...(a.merged?.inexact ?? []), ...(b.merged?.inexact ?? [])]);
  const planned = new Set<string>();
  for (const o of plan) {
    planned.add(o.name);
    const v = inexact.has(o.name) ? null : mergeOne(o, a, b, plan);
    if (v === undefined) inexact.add(o.name);
    values[o.name] = v ?? null;
  }
  for (const name of new Set([...Object.keys(a.values), ...Object.keys(b.values)])) {
    if (planned.has(name)) continue;
    values[name] = null;
    inexact.add(name);
  }
  return {
    type: 'window',
    pipeline: a.pipeline,
    key: a.key,
    start: a.start,
    end: b.end,
    version: 1,
    count: a.count + b.count,
    values,
    merged: { windows: (a.merged?.windows ?? 1) + (b.merged?.windows ?? 1), inexact: [...inexact].sort() },
  };
}

function num(r: OutboxWindow, name: string): number | null {
  const v = r.values[name];
  return typeof v === 'number' ? v : null;
}

/** n of a field in one result, or undefined when it cannot be known. */
function fieldN(r: OutboxWindow, field: string, plan: readonly MergeOutput[]): number | undefined {
  if (field === 'value') return r.count;
  const c = plan.find((o) => o.fn === 'count' && o.field === field);
  if (c === undefined) return undefined;
  return num(r, c.name) ?? undefined;
}

function fieldMean(r: OutboxWindow, field: string, n: number, plan: readonly MergeOutput[]): number | undefined {
  if (n === 0) return 0;
  const m = plan.find((o) => o.fn === 'mean' && o.field === field);
  if (m !== undefined) return num(r, m.name) ?? undefined;
  const s = plan.find((o) => o.fn === 'sum' && o.field === field);
  if (s !== undefined) {
    const sum = num(r, s.name);
    return sum === null ? undefined : sum / n;
  }
  return undefined;
}

/** Sum of squared deviations from an output of fn `fn` and n. */
function m2Of(fn: AggregateFn, v: number | null, n: number): number | undefined {
  switch (fn) {
    case 'variance': return n === 0 ? 0 : v === null ? undefined : v * n;
    case 'stddev': return n === 0 ? 0 : v === null ? undefined : v * v * n;
    case 'varianceSample': return n < 2 ? 0 : v === null ? undefined : v * (n - 1);
    case 'stddevSample': return n < 2 ? 0 : v === null ? undefined : v * v * (n - 1);
    default: return undefined;
  }
}

function fromM2(fn: AggregateFn, m2: number, n: number): number | null {
  switch (fn) {
    case 'variance': return n === 0 ? null : m2 / n;
    case 'stddev': return n === 0 ? null : Math.sqrt(m2 / n);
    case 'varianceSample': return n < 2 ? null : m2 / (n - 1);
    case 'stddevSample': return n < 2 ? null : Math.sqrt(m2 / (n - 1));
    default: return null;
  }
}

/** The merged value; undefined when it cannot be computed exactly. */
function mergeOne(o: MergeOutput, a: OutboxWindow, b: OutboxWindow, plan: readonly MergeOutput[]): number | null | undefined {
  const va = num(a, o.name);
  const vb = num(b, o.name);
  switch (o.fn) {
    case 'count':
      if (o.field === 'value') return a.count + b.count;
      return va === null || vb === null ? undefined : va + vb;
    case 'sum':
      return va === null || vb === null ? undefined : va + vb;
    case 'min':
      return va === null ? vb : vb === null ? va : Math.min(va, vb);
    case 'max':
      return va === null ? vb : vb === null ? va : Math.max(va, vb);
    case 'first':
      return va ?? vb;
    case 'last':
      return vb ?? va;
    case 'mean': {
      const na = fieldN(a, o.field, plan);
      const nb = fieldN(b, o.field, plan);
      if (na === undefined || nb === undefined) return undefined;
      if (na + nb === 0) return null;
      if (na === 0) return vb;
      if (nb === 0) return va;
      if (va === null || vb === null) return undefined;
      return va + ((vb - va) * nb) / (na + nb);
    }
    case 'variance': case 'stddev': case 'varianceSample': case 'stddevSample': {
      const na = fieldN(a, o.field, plan);
      const nb = fieldN(b, o.field, plan);
      if (na === undefined || nb === undefined) return undefined;
      const ma = fieldMean(a, o.field, na, plan);
      const mb = fieldMean(b, o.field, nb, plan);
      const m2a = m2Of(o.fn, va, na);
      const m2b = m2Of(o.fn, vb, nb);
      if (ma === undefined || mb === undefined || m2a === undefined || m2b === undefined) return undefined;
      const n = na + nb;
      if (n === 0) return null;
      const delta = mb - ma;
      return fromM2(o.fn, m2a + m2b + (delta * delta * na * nb) / n, n);
    }
    case 'rate': case 'quantile': case 'distinct':
      return undefined;
  }
}

// ---- payload codec -------------------------------------------------------------

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/** The payload of an outbox row of kind 'window': plain CBOR, self-describing. */
export function encodeWindowPayload(w: OutboxWindow): Uint8Array {
  return Uint8Array.prototype.slice.call(cbor.encode(w));
}

export function decodeWindowPayload(bytes: Uint8Array): OutboxWindow {
  const v = cbor.decode(bytes) as unknown;
  if (typeof v !== 'object' || v === null || (v as { type?: unknown }).type !== 'window' ||
      typeof (v as { start?: unknown }).start !== 'number' || typeof (v as { count?: unknown }).count !== 'number' ||
      typeof (v as { values?: unknown }).values !== 'object') {
    throw new StateError('E_STATE_CORRUPT', 'outbox window payload is not a window result');
  }
  return v as OutboxWindow;
}
