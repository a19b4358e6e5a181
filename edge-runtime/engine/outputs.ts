import type { Reading } from './types.ts';

/** The values of a window's aggregates by output name; null when undefined (e.g. variance of one value). */
export type AggregateValues = Record<string, number | null>;

/** Key fields by name, values as strings (e.g. `{ deviceId: 'd-17', metric: 'temperature' }`). */
export type KeyObject = Record<string, string>;

/**
 * A window result. Identity is (pipeline, key, start, end) — plus `index` for
 * count windows. The first emission has version 1; a late update within the
 * allowed lateness re-emits the same identity with a higher version. A session
 * that grew or merged after it was emitted lists the identities it replaces in
 * `retracts`.
 */
export interface WindowResult {
  readonly type: 'window';
  readonly pipeline: string;
  readonly key: KeyObject;
  readonly start: number;
  readonly end: number;
  readonly version: number;
  readonly count: number;
  readonly values: AggregateValues;
  /** Count windows: 0-based index of the window for its key. */
  readonly index?: number;
  /** Count windows: true when emitted at end of data before n readings arrived. */
  readonly partial?: boolean;
  /** Session windows: earlier emitted windows this one replaces. */
  readonly retracts?: readonly { start: number; end: number; version: number }[];
}

/** A reading that arrived after the windows it belongs to were closed for good. */
export interface LateRecord {
  readonly type: 'late';
  readonly pipeline: string;
  readonly key: KeyObject;
  readonly reading: Reading;
  /** The watermark when it arrived. */
  readonly watermark: number;
  /** How many of the reading's windows it missed (hopping windows may accept it in some). */
  readonly missedWindows: number;
}

/**
 * A detector flagged a reading (or, for silence, the passing of processing
 * time). `eventTime` is the reading's event time, or the processing time at
 * which silence was noticed.
 */
export interface AnomalyRecord {
  readonly type: 'anomaly';
  readonly pipeline: string;
  readonly key: KeyObject;
  readonly deviceId: string;
  readonly metric: string;
  readonly eventTime: number;
  /** In [0, 1]; ≥ 0.5 for every flagged reading of the built-in detectors. */
  readonly score: number;
  readonly detector: string;
  readonly reason: string;
  /** The expected value, or an inclusive band [lo, hi]. */
  readonly expected?: number | readonly [number, number];
  readonly observed: number;
}

export type SideRecord = LateRecord;

/** Everything a pipeline hands to its sink: the outbox on a gateway, NDJSON in replay. */
export type PipelineOutput = WindowResult | LateRecord | AnomalyRecord;
