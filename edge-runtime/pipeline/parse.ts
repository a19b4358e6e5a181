import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.ts';
import { parseDuration } from './duration.ts';
import type { Expr, Literal } from './expr.ts';
import type { PipelinePlan, StepPlan, WindowPlan } from './plan.ts';
import { DEFAULT_WATERMARK } from './plan.ts';
import {
  AGGREGATE_FNS, defaultAggregateName, parseQuantileShorthand, type AggregateFn, type AggregateSpec,
} from '../engine/aggregates/spec.ts';
import type { WatermarkSpec } from '../engine/watermark-generator.ts';
import { resolveDetectorSpec, type ResolvedSpec } from '../anomaly/detector-spec.ts';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new ConfigError(field, `expected a mapping, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`);
  return v;
}

function onlyKeys(o: Obj, field: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ConfigError(`${field}.${k}`, `unknown setting (expected one of: ${allowed.join(', ')})`);
  }
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(field, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a whole number ≥ 1, got ${JSON.stringify(v)}`);
  return v;
}

const FIELD_RE = /^(deviceId|metric|value|eventTime|arrivalTime|tags\.[A-Za-z0-9_.-]+)$/;

function fieldPath(v: unknown, field: string): string {
  const s = str(v, field);
  if (!FIELD_RE.test(s)) throw new ConfigError(field, `unknown field ${JSON.stringify(s)} (use deviceId, metric, value, eventTime, arrivalTime or tags.NAME)`);
  return s;
}

function literal(v: unknown, field: string): Literal {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  throw new ConfigError(field, `expected a number, string, boolean or null, got ${JSON.stringify(v)}`);
}

const CONDITION_OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'in', 'matches'] as const;

/** `{ value: { gt: -40, lt: 125 }, metric: temperature }` → AND of conditions. */
function conditions(v: unknown, field: string): Expr {
  const o = obj(v, field);
  const parts: Expr[] = [];
  for (const [k, cond] of Object.entries(o)) {
    const f = fieldPath(k, `${field}.${k}`);
    const here = `${field}.${k}`;
    if (!isObj(cond)) {
      parts.push({ op: 'eq', args: [{ field: f }, { lit: literal(cond, here) }] });
      continue;
    }
    onlyKeys(cond, here, CONDITION_OPS);
    for (const [op, arg] of Object.entries(cond)) {
      const at = `${here}.${op}`;
      if (op === 'in') {
        if (!Array.isArray(arg) || arg.length === 0) throw new ConfigError(at, 'expected a non-empty list');
        parts.push({ op: 'in', arg: { field: f }, values: arg.map((x, i) => literal(x, `${at}[${i}]`)) });
      } else if (op === 'matches') {
        const pattern = str(arg, at);
        try {
          new RegExp(pattern);
        } catch (e) {
          throw new ConfigError(at, `invalid regular expression: ${(e as Error).message}`, { cause: e });
        }
        parts.push({ op: 'matches', arg: { field: f }, pattern });
      } else {
        parts.push({ op: op as 'eq', args: [{ field: f }, { lit: literal(arg, at) }] });
      }
    }
  }
  if (parts.length === 0) throw new ConfigError(field, 'needs at least one condition');
  return parts.length === 1 ? parts[0]! : { op: 'and', args: parts };
}

function filterStep(v: unknown, field: string): StepPlan {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ConfigError(field, 'needs at least one alternative');
    return { kind: 'filter', where: { op: 'or', args: v.map((c, i) => conditions(c, `${field}[${i}]`)) } };
  }
  return { kind: 'filter', where: conditions(v, field) };
}

function mapStep(v: unknown, field: string): StepPlan {
  const o = obj(v, field);
  const set: { field: string; expr: Expr }[] = [];
  for (const [k, spec] of Object.entries(o)) {
    const target = fieldPath(k, `${field}.${k}`);
    const here = `${field}.${k}`;
    if (!isObj(spec)) {
      set.push({ field: target, expr: { lit: literal(spec, here) } });
      continue;
    }
    onlyKeys(spec, here, ['from', 'mul', 'div', 'add', 'sub']);
    let e: Expr = { field: spec.from === undefined ? target : fieldPath(spec.from, `${here}.from`) };
    for (const op of ['mul', 'div', 'add', 'sub'] as const) {
      if (spec[op] === undefined) continue;
      const n = spec[op];
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new ConfigError(`${here}.${op}`, `expected a number, got ${JSON.stringify(n)}`);
      e = { op, args: [e, { lit: n }] };
    }
    set.push({ field: target, expr: e });
  }
  if (set.length === 0) throw new ConfigError(field, 'needs at least one field');
  return { kind: 'map', set };
}

export function watermark(v: unknown, field: string): WatermarkSpec {
  if (v === undefined) return DEFAULT_WATERMARK;
  const o = obj(v, field);
  onlyKeys(o, field, ['maxOutOfOrder', 'idleTimeout', 'per']);
  const per = o.per ?? 'pipeline';
  if (per !== 'pipeline' && per !== 'device') throw new ConfigError(`${field}.per`, `expected "pipeline" or "device", got ${JSON.stringify(per)}`);
  return {
    maxOutOfOrderMs: o.maxOutOfOrder === undefined ? 0 : parseDuration(o.maxOutOfOrder, `${field}.maxOutOfOrder`, { allowZero: true }),
    idleTimeoutMs: o.idleTimeout === undefined ? 0 : parseDuration(o.idleTimeout, `${field}.idleTimeout`, { allowZero: true }),
    per,
  };
}

export function windowPlan(v: unknown, field: string): WindowPlan {
  const o = obj(v, field);
  const type = o.type;
  const lateness = (): number => (o.allowedLateness === undefined ? 0 : parseDuration(o.allowedLateness, `${field}.allowedLateness`, { allowZero: true }));
  const offset = (): number => (o.offset === undefined ? 0 : parseDuration(o.offset, `${field}.offset`, { allowZero: true }));
  switch (type) {
    case 'tumbling':
      onlyKeys(o, field, ['type', 'size', 'offset', 'allowedLateness']);
      return { type, sizeMs: parseDuration(o.size, `${field}.size`), offsetMs: offset(), allowedLatenessMs: lateness() };
    case 'hopping': {
      onlyKeys(o, field, ['type', 'size', 'slide', 'offset', 'allowedLateness']);
      const sizeMs = parseDuration(o.size, `${field}.size`);
      const slideMs = parseDuration(o.slide, `${field}.slide`);
      if (slideMs > sizeMs) throw new ConfigError(`${field}.slide`, `must not exceed size (${sizeMs} ms): readings would fall between windows`);
      return { type, sizeMs, slideMs, offsetMs: offset(), allowedLatenessMs: lateness() };
    }
    case 'session':
      onlyKeys(o, field, ['type', 'gap', 'maxDuration', 'allowedLateness']);
      return {
        type,
        gapMs: parseDuration(o.gap, `${field}.gap`),
        maxDurationMs: o.maxDuration === undefined ? null : parseDuration(o.maxDuration, `${field}.maxDuration`),
        allowedLatenessMs: lateness(),
      };
    case 'count':
      onlyKeys(o, field, ['type', 'size']);
      return { type, size: posInt(o.size, `${field}.size`) };
    default:
      throw new ConfigError(`${field}.type`, `expected tumbling, hopping, session or count, got ${JSON.stringify(type)}`);
  }
}

export function aggregate(v: unknown, field: string): AggregateSpec {
  if (typeof v === 'string') v = { fn: v };
  const o = obj(v, field);
  onlyKeys(o, field, ['fn', 'field', 'q', 'accuracy', 'precision', 'as']);
  const fnRaw = str(o.fn, `${field}.fn`);
  let fn: AggregateFn;
  let q: number | undefined;
  const shorthand = parseQuantileShorthand(fnRaw);
  if (shorthand !== null) {
    fn = 'quantile';
    q = shorthand;
  } else if ((AGGREGATE_FNS as readonly string[]).includes(fnRaw)) {
    fn = fnRaw as AggregateFn;
  } else {
    throw new ConfigError(`${field}.fn`, `unknown aggregate ${JSON.stringify(fnRaw)} (expected one of: ${AGGREGATE_FNS.join(', ')}, or p50/p90/p95/p99)`);
  }
  if (o.q !== undefined) {
    if (fn !== 'quantile') throw new ConfigError(`${field}.q`, 'only quantile takes q');
    if (typeof o.q !== 'number' || !(o.q >= 0 && o.q <= 1)) throw new ConfigError(`${field}.q`, `expected a number in [0, 1], got ${JSON.stringify(o.q)}`);
    q = o.q;
  }
  if (fn === 'quantile' && q === undefined) throw new ConfigError(`${field}.q`, 'quantile needs q (or write p50, p95, ...)');
  const spec: { -readonly [K in keyof AggregateSpec]: AggregateSpec[K] } = { fn };
  if (o.field !== undefined) spec.field = fieldPath(o.field, `${field}.field`);
  if (q !== undefined) spec.q = q;
  if (o.accuracy !== undefined) {
    if (fn !== 'quantile') throw new ConfigError(`${field}.accuracy`, 'only quantiles take accuracy');
    if (typeof o.accuracy !== 'number' || !(o.accuracy > 0 && o.accuracy < 1)) throw new ConfigError(`${field}.accuracy`, `expected a number in (0, 1), got ${JSON.stringify(o.accuracy)}`);
    spec.accuracy = o.accuracy;
  }
  if (o.precision !== undefined) {
    if (fn !== 'distinct') throw new ConfigError(`${field}.precision`, 'only distinct takes precision');
    if (typeof o.precision !== 'number' || !Number.isInteger(o.precision) || o.precision < 4 || o.precision > 16) {
      throw new ConfigError(`${field}.precision`, `expected a whole number in [4, 16], got ${JSON.stringify(o.precision)}`);
    }
    spec.precision = o.precision;
  }
  if (o.as !== undefined) spec.as = str(o.as, `${field}.as`);
  const numeric = fn !== 'count' && fn !== 'distinct';
  if (numeric && (spec.field === 'deviceId' || spec.field === 'metric')) {
    throw new ConfigError(`${field}.field`, `${fn} needs a numeric field, ${spec.field} is text`);
  }
  return spec;
}

export function pipelineName(v: unknown, field: string): string {
  const name = str(v, field);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError(field, 'use 1-64 letters, digits, _ . -');
  return name;
}

/** Two aggregates of one pipeline must not share an output name; `field` is the aggregates list. */
export function checkOutputNames(aggregates: readonly AggregateSpec[], field: string): void {
  const seen = new Set<string>();
  aggregates.forEach((a, i) => {
    const n = a.as ?? defaultAggregateName(a);
    if (seen.has(n)) throw new ConfigError(`${field}[${i}]`, `output name ${JSON.stringify(n)} is used twice (set "as")`);
    seen.add(n);
  });
}

const PIPELINE_KEYS = ['name', 'watermark', 'filter', 'map', 'steps', 'keyBy', 'window', 'aggregates', 'detect'];

export function parsePipeline(v: unknown, field: string): PipelinePlan {
  const o = obj(v, field);
  onlyKeys(o, field, PIPELINE_KEYS);
  const name = pipelineName(o.name, `${field}.name`);
  const steps: StepPlan[] = [];
  if (o.steps !== undefined) {
    if (o.filter !== undefined || o.map !== undefined) throw new ConfigError(`${field}.steps`, 'use either steps or filter/map, not both');
    if (!Array.isArray(o.steps)) throw new ConfigError(`${field}.steps`, 'expected a list of { filter: ... } or { map: ... }');
    o.steps.forEach((s, i) => {
      const so = obj(s, `${field}.steps[${i}]`);
      onlyKeys(so, `${field}.steps[${i}]`, ['filter', 'map']);
      if ((so.filter === undefined) === (so.map === undefined)) throw new ConfigError(`${field}.steps[${i}]`, 'each step is exactly one of filter or map');
      steps.push(so.filter !== undefined ? filterStep(so.filter, `${field}.steps[${i}].filter`) : mapStep(so.map, `${field}.steps[${i}].map`));
    });
  } else {
    if (o.filter !== undefined) steps.push(filterStep(o.filter, `${field}.filter`));
    if (o.map !== undefined) steps.push(mapStep(o.map, `${field}.map`));
  }
  let keyBy: string[] = ['deviceId', 'metric'];
  if (o.keyBy !== undefined) {
    const kb = typeof o.keyBy === 'string' ? [o.keyBy] : o.keyBy;
    if (!Array.isArray(kb)) throw new ConfigError(`${field}.keyBy`, 'expected a field or a list of fields');
    keyBy = kb.map((k, i) => fieldPath(k, `${field}.keyBy[${i}]`));
  }
  const wm = watermark(o.watermark, `${field}.watermark`);
  if (o.detect !== undefined) {
    if (o.window !== undefined || o.aggregates !== undefined) {
      throw new ConfigError(`${field}.detect`, 'a pipeline either windows (window + aggregates) or detects; split them into two pipelines');
    }
    return { name, watermark: wm, steps, keyBy, window: null, aggregates: [], detect: detectors(o.detect, `${field}.detect`) };
  }
  if (o.window === undefined) throw new ConfigError(`${field}.window`, 'is required (or detect, for a detection pipeline)');
  const window = windowPlan(o.window, `${field}.window`);
  if (!Array.isArray(o.aggregates) || o.aggregates.length === 0) {
    throw new ConfigError(`${field}.aggregates`, 'expected a non-empty list, e.g. [count, mean, max, p95]');
  }
  const aggregates = o.aggregates.map((a, i) => aggregate(a, `${field}.aggregates[${i}]`));
  checkOutputNames(aggregates, `${field}.aggregates`);
  return { name, watermark: wm, steps, keyBy, window, aggregates, detect: [] };
}

/** `detect: [novelty, { kind: out-of-range, min: -40, max: 125 }]` — a bare name is a detector with its defaults. */
export function detectors(v: unknown, field: string): ResolvedSpec[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(field, 'expected a non-empty list of detectors, e.g. [novelty]');
  return v.map((d, i) => resolveDetectorSpec(typeof d === 'string' ? { kind: d } : d, `${field}[${i}]`));
}

/** Parses a pipeline file's text (YAML or JSON — JSON is YAML) into validated plans. */
export function parsePipelineFile(text: string, source = 'pipeline file'): PipelinePlan[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { strict: true, uniqueKeys: true });
  } catch (e) {
    throw new ConfigError(source, `not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  let list: unknown;
  let base: string;
  if (Array.isArray(doc)) {
    list = doc;
    base = '';
  } else if (isObj(doc) && 'pipelines' in doc) {
    onlyKeys(doc, '(top level)', ['pipelines']);
    list = doc.pipelines;
    base = 'pipelines';
  } else if (isObj(doc)) {
    list = [doc];
    base = '';
  } else {
    throw new ConfigError('(top level)', 'expected a pipeline, a list of pipelines, or { pipelines: [...] }');
  }
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError(base || '(top level)', 'expected a non-empty list of pipelines');
  const plans = list.map((p, i) => parsePipeline(p, `${base}[${i}]`));
  const names = new Set<string>();
  plans.forEach((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`${base}[${i}].name`, `duplicate pipeline name ${JSON.stringify(p.name)}`);
    names.add(p.name);
  });
  return plans;
}
