import { ConfigError } from '../errors.ts';
import { DETECTOR_KINDS, type DetectorKind } from './detector.ts';

/**
 * Detector configuration as it appears in a pipeline: plain data, one object
 * per detector, every setting optional except where the detector cannot guess
 * (a rate limit has no universal default). `resolveDetectorSpec` checks a spec
 * and fills the defaults; errors name the bad field.
 */

export interface OutOfRangeSpec {
  readonly kind: 'out-of-range';
  /** Inclusive bounds; default: the profile's valid range. */
  readonly min?: number;
  readonly max?: number;
}

export interface RateOfChangeSpec {
  readonly kind: 'rate-of-change';
  /** Largest plausible |Δvalue| per second of event time. */
  readonly maxRatePerSec?: number;
  /** Largest plausible |Δvalue| between consecutive readings, whatever the time between them. */
  readonly maxStep?: number;
}

export interface FlatlineSpec {
  readonly kind: 'flatline';
  /** Readings in a row within `tolerance` of the first of them that make a flatline (default 10). */
  readonly count?: number;
  /** Absolute tolerance (default 0: identical values). */
  readonly tolerance?: number;
  /** The run must also span at least this much event time, ms (default 0). */
  readonly minDurationMs?: number;
}

export interface DropoutSpec {
  readonly kind: 'dropout';
  /** Expected interval between readings, ms; default: the profile's sampling interval. */
  readonly intervalMs?: number;
  /** Silence longer than `factor × intervalMs` of processing time is a dropout (default 3). */
  readonly factor?: number;
}

export interface EwmaZSpec {
  readonly kind: 'ewma-z';
  /** Weight of the newest reading in the mean and variance, (0, 1) (default 0.05). */
  readonly alpha?: number;
  /** |z| at which a reading is flagged (default 4). */
  readonly threshold?: number;
  /** Readings seen before any is scored (default 30). */
  readonly warmup?: number;
}

export interface RobustMadSpec {
  readonly kind: 'robust-mad';
  /** Readings in the sliding window, 8–256 (default 64). */
  readonly window?: number;
  /** Robust z (|x − median| / (1.4826·MAD)) at which a reading is flagged (default 5). */
  readonly threshold?: number;
  /** Readings seen before any is scored (default 16). */
  readonly warmup?: number;
  /** Smallest scale used, in the metric's unit, so a perfectly flat window is not infinitely sensitive (default 0). */
  readonly minScale?: number;
}

export interface NoveltySpec {
  readonly kind: 'novelty';
  /** Readings used to learn the series' range before anything is scored (default 150). */
  readonly warmup?: number;
  /** A value this far outside the range seen so far, as a fraction of that range, is flagged at once (default 0.05). */
  readonly spatialTolerance?: number;
  /** After a flag, scores are damped for this many readings (default 100; 0 disables). */
  readonly suppress?: number;
}

export type DetectorSpec =
  | OutOfRangeSpec | RateOfChangeSpec | FlatlineSpec | DropoutSpec | EwmaZSpec | RobustMadSpec | NoveltySpec;

/** A spec with every default filled in, as detectors receive it. */
export type Resolved<S extends DetectorSpec> = { readonly [K in keyof S]-?: Exclude<S[K], undefined> };

export type ResolvedSpec =
  | Resolved<FlatlineSpec> | Resolved<EwmaZSpec> | Resolved<RobustMadSpec> | Resolved<NoveltySpec>
  // these keep optional fields: their defaults come from the series context, at creation
  | OutOfRangeSpec | RateOfChangeSpec | DropoutSpec;

type Obj = Record<string, unknown>;

const ALLOWED: Record<DetectorKind, readonly string[]> = {
  'out-of-range': ['min', 'max'],
  'rate-of-change': ['maxRatePerSec', 'maxStep'],
  flatline: ['count', 'tolerance', 'minDurationMs'],
  dropout: ['intervalMs', 'factor'],
  'ewma-z': ['alpha', 'threshold', 'warmup'],
  'robust-mad': ['window', 'threshold', 'warmup', 'minScale'],
  novelty: ['warmup', 'spatialTolerance', 'suppress'],
};

function num(o: Obj, key: string, field: string, check: (x: number) => boolean, want: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw new ConfigError(`${field}.${key}`, `expected ${want}, got ${JSON.stringify(v)}`);
  }
  return v;
}

const positive = (x: number): boolean => x > 0;
const nonNegative = (x: number): boolean => x >= 0;
const wholeAtLeast = (min: number) => (x: number): boolean => Number.isInteger(x) && x >= min;

/**
 * Checks a detector spec (typically parsed from YAML) and fills defaults.
 * `field` is the path of the spec in its file, used in error messages, e.g.
 * `pipelines[0].detect.detectors[1]`.
 */
export function resolveDetectorSpec(input: unknown, field = 'detector'): ResolvedSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(field, `expected a mapping with a kind, got ${JSON.stringify(input)}`);
  }
  const o = input as Obj;
  const kind = o.kind;
  if (typeof kind !== 'string' || !(DETECTOR_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`${field}.kind`, `expected one of ${DETECTOR_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  const k = kind as DetectorKind;
  for (const key of Object.keys(o)) {
    if (key !== 'kind' && !ALLOWED[k].includes(key)) {
      throw new ConfigError(`${field}.${key}`, `unknown setting for ${k} (expected one of: ${ALLOWED[k].join(', ') || 'none'})`);
    }
  }
  switch (k) {
    case 'out-of-range': {
      const min = num(o, 'min', field, () => true, 'a finite number');
      const max = num(o, 'max', field, () => true, 'a finite number');
      if (min !== undefined && max !== undefined && min > max) throw new ConfigError(`${field}.min`, `min ${min} is above max ${max}`);
      return { kind: k, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
    }
    case 'rate-of-change': {
      const maxRatePerSec = num(o, 'maxRatePerSec', field, positive, 'a number > 0');
      const maxStep = num(o, 'maxStep', field, positive, 'a number > 0');
      if (maxRatePerSec === undefined && maxStep === undefined) {
        throw new ConfigError(`${field}.maxRatePerSec`, 'rate-of-change needs maxRatePerSec or maxStep (there is no universal default)');
      }
      return { kind: k, ...(maxRatePerSec === undefined ? {} : { maxRatePerSec }), ...(maxStep === undefined ? {} : { maxStep }) };
    }
    case 'flatline':
      return {
        kind: k,
        count: num(o, 'count', field, wholeAtLeast(2), 'a whole number ≥ 2') ?? 10,
        tolerance: num(o, 'tolerance', field, nonNegative, 'a number ≥ 0') ?? 0,
        minDurationMs: num(o, 'minDurationMs', field, nonNegative, 'a number ≥ 0') ?? 0,
      };
    case 'dropout': {
      const intervalMs = num(o, 'intervalMs', field, positive, 'a number of ms > 0');
      return { kind: k, ...(intervalMs === undefined ? {} : { intervalMs }), factor: num(o, 'factor', field, (x) => x >= 1, 'a number ≥ 1') ?? 3 };
    }
    case 'ewma-z':
      return {
        kind: k,
        alpha: num(o, 'alpha', field, (x) => x > 0 && x < 1, 'a number in (0, 1)') ?? 0.05,
        threshold: num(o, 'threshold', field, positive, 'a number > 0') ?? 4,
        warmup: num(o, 'warmup', field, wholeAtLeast(2), 'a whole number ≥ 2') ?? 30,
      };
    case 'robust-mad': {
      const window = num(o, 'window', field, (x) => Number.isInteger(x) && x >= 8 && x <= 256, 'a whole number in 8..256') ?? 64;
      const warmup = num(o, 'warmup', field, wholeAtLeast(3), 'a whole number ≥ 3') ?? Math.min(16, window);
      if (warmup > window) throw new ConfigError(`${field}.warmup`, `warmup ${warmup} is larger than the window ${window}`);
      return {
        kind: k,
        window,
        threshold: num(o, 'threshold', field, positive, 'a number > 0') ?? 5,
        warmup,
        minScale: num(o, 'minScale', field, nonNegative, 'a number ≥ 0') ?? 0,
      };
    }
    case 'novelty':
      return {
        kind: k,
        warmup: num(o, 'warmup', field, wholeAtLeast(10), 'a whole number ≥ 10') ?? 150,
        spatialTolerance: num(o, 'spatialTolerance', field, nonNegative, 'a number ≥ 0') ?? 0.05,
        suppress: num(o, 'suppress', field, wholeAtLeast(0), 'a whole number ≥ 0') ?? 100,
      };
  }
}
