/**
 * Reconnect pacing. Exponential backoff with full jitter: the n-th
 * consecutive failure waits a uniformly random time in
 * [0, min(maxMs, baseMs × 2^n)) (the "Full Jitter" of AWS's "Exponential
 * Backoff And Jitter"), so a fleet that lost the cloud together does not
 * come back in lockstep. `random` is injectable for tests.
 */
export interface BackoffOptions {
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** In [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export class Backoff {
  private attempt = 0;
  readonly baseMs: number;
  readonly maxMs: number;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 500;
    this.maxMs = o.maxMs ?? 60_000;
    this.random = o.random ?? Math.random;
  }

  /** The wait before the next attempt; each call counts one more failure. */
  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * cap);
  }

  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Longest Retry-After honoured; a larger value (or a date far ahead) is cut to this. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as ms from
 * `nowMs`; undefined when absent or unreadable. Capped at MAX_RETRY_AFTER_MS.
 */
export function retryAfterMs(header: string | string[] | undefined, nowMs: number): number | undefined {
  if (typeof header !== 'string') return undefined;
  const v = header.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    if (!/^[A-Za-z]{3}, /.test(v)) return undefined; // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
