/**
 * The vocabulary every part of the engine speaks.
 *
 * A Reading is one measured value of one metric of one device. Times are
 * milliseconds since the Unix epoch (UTC). `arrivalTime` is the processing
 * time taken once, at ingest, and stored with the reading: operators never read
 * the wall clock, so a replay of the same records gives the same results.
 */
export type TagValue = string | number | boolean;

export interface Reading {
  readonly deviceId: string;
  readonly metric: string;
  readonly value: number;
  /** Event time: when the device measured the value (ms since epoch). */
  readonly eventTime: number;
  /** Processing time: when the gateway accepted the value (ms since epoch). */
  readonly arrivalTime: number;
  readonly tags?: Readonly<Record<string, TagValue>>;
}

/**
 * What a source hands to a pipeline: readings, and processing-time ticks.
 * Ticks carry processing time forward while no reading arrives, so idleness
 * and silence are decided from recorded data, never from a timer.
 */
export type SourceRecord =
  | { readonly type: 'reading'; readonly reading: Reading }
  | { readonly type: 'tick'; readonly processingTime: number };

/**
 * A watermark: an assertion that no more events with event time < `time`
 * are expected. It also carries the pipeline's processing time, so that
 * operators that measure silence (detectors) get time only through here.
 */
export interface Watermark {
  readonly time: number;
  readonly processingTime: number;
}

/** What flows on every edge of a pipeline graph. Switch on `kind` exhaustively. */
export type Message<T> =
  | { readonly kind: 'data'; readonly items: readonly T[] }
  | { readonly kind: 'watermark'; readonly watermark: Watermark }
  | { readonly kind: 'barrier'; readonly checkpointId: number }
  | { readonly kind: 'end' };

/** Exhaustiveness guard for switches over discriminated unions. */
export function assertNever(x: never, what = 'value'): never {
  throw new TypeError(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** The only way time reaches code outside operators (ingest stamps arrivalTime from it). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

export const NEG_INF = Number.NEGATIVE_INFINITY;
export const POS_INF = Number.POSITIVE_INFINITY;
