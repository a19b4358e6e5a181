import type { NamedState } from '../engine/operator.ts';

/**
 * The detector contract. A detector instance watches ONE series (device ×
 * metric) in one pass: it sees each reading once, in arrival order, never
 * looks ahead, and keeps a small fixed amount of state that it can hand out
 * as plain data (`snapshot`) and take back (`restore`) so that a run restored
 * mid-series produces bit-identical verdicts to one never interrupted.
 *
 * Detectors are pure: no clock, no I/O, no timers. Processing time reaches
 * them only as data (`onProcessingTime`, `arrivalTime`), so a replay of the
 * same log gives the same verdicts (DESIGN.md, invariant 3).
 */

export type DetectorKind =
  | 'out-of-range'
  | 'rate-of-change'
  | 'flatline'
  | 'dropout'
  | 'ewma-z'
  | 'robust-mad'
  | 'novelty';

export const DETECTOR_KINDS: readonly DetectorKind[] = [
  'out-of-range', 'rate-of-change', 'flatline', 'dropout', 'ewma-z', 'robust-mad', 'novelty',
];

/** Why a detector flagged a reading: words for people, numbers for machines. */
export interface AnomalyDetail {
  /** The detector kind that raised it. */
  readonly detector: DetectorKind;
  /** One sentence, e.g. `value 131.2 is above the valid range [−40, 125]`. */
  readonly reason: string;
  /** What the detector expected: a value, or an inclusive band [lo, hi]. */
  readonly expected?: number | readonly [number, number];
  /** The value it saw (for silence: the milliseconds without a reading). */
  readonly observed: number;
}

/**
 * A detector's answer for one reading (or one processing-time tick).
 * `score` is in [0, 1]: how anomalous the point looks; every built-in
 * detector scores 0.5 or more exactly on the readings it considers anomalous.
 * `anomaly` is set when the detector raises an alert: on each anomalous
 * reading for point checks (out-of-range, rate-of-change, ewma-z,
 * robust-mad), once per episode for episode checks (flatline, dropout, and
 * novelty, which damps scores for a while after each alert).
 */
export interface Verdict {
  readonly score: number;
  readonly anomaly: AnomalyDetail | null;
}

/** The verdict for "nothing to report" (shared, frozen: detectors return it without allocating). */
export const QUIET: Verdict = Object.freeze({ score: 0, anomaly: null });

/** The score at and above which a built-in detector considers a reading anomalous. */
export const FLAG_SCORE = 0.5;

/** What a detector may know about its series from the device profile. */
export interface SeriesContext {
  /** The metric's valid range, inclusive (profile `metrics.<name>.range`). */
  readonly validRange?: readonly [number, number];
  /** The device's expected interval between readings, ms (profile `samplingIntervalMs`). */
  readonly expectedIntervalMs?: number;
}

/** Persisted detector state: `name` is `detector.<kind>`. Plain data, JSON- and CBOR-safe. */
export type DetectorState = NamedState<string, unknown>;

export interface Detector {
  readonly kind: DetectorKind;
  /**
   * One reading. `eventTime` is the device's time (ms); `arrivalTime` the
   * gateway's processing time when it was ingested (defaults to `eventTime`).
   * Non-finite values, repeated or backward times and long gaps are accepted
   * and never corrupt the state.
   */
  update(eventTime: number, value: number, arrivalTime?: number): Verdict;
  /**
   * Processing time advanced with no reading (a log tick or a watermark).
   * Returns a verdict only when the passing of time itself is news (silence).
   */
  onProcessingTime(processingTime: number): Verdict | null;
  /**
   * `onProcessingTime(pt)` can answer only when `pt` is greater than this (+Infinity: not before the
   * next reading). Lets a spilled series sleep on disk until its silence could be news. Detectors
   * without it never answer `onProcessingTime`.
   */
  silenceDeadline?(): number;
  snapshot(): DetectorState;
  /** Replaces the state with a snapshot taken from a detector of the same spec. Throws `E_STATE_VERSION` otherwise. */
  restore(state: DetectorState): void;
  /** Bytes of state held, counted as stored (typed arrays by their length, numbers as 8). */
  stateBytes(): number;
}

/** Series identity as the pipeline keys it. */
export interface SeriesKey {
  readonly deviceId: string;
  readonly metric: string;
}

/** An anomaly as it leaves the pipeline: the verdict plus which series and when. */
export interface AnomalyEvent extends AnomalyDetail {
  readonly type: 'anomaly';
  readonly series: SeriesKey;
  readonly eventTime: number;
  readonly score: number;
}

/** Builds the outgoing event for a flagged verdict, or null if the verdict flags nothing. */
export function toAnomalyEvent(series: SeriesKey, eventTime: number, verdict: Verdict): AnomalyEvent | null {
  const a = verdict.anomaly;
  if (a === null) return null;
  const base = { type: 'anomaly' as const, series, eventTime, score: verdict.score, detector: a.detector, reason: a.reason, observed: a.observed };
  return a.expected === undefined ? base : { ...base, expected: a.expected };
}
