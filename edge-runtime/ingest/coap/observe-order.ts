/**
 * Ordering of Observe notifications, RFC 7641 §3.4. Pure: times are passed in.
 *
 * A notification (V2 arriving at local time T2) is newer than the last one
 * accepted for the same registration (V1 at T1) when
 *
 *     (V1 < V2 and V2 − V1 < 2^23) or (V1 > V2 and V1 − V2 > 2^23) or T2 > T1 + 128 s
 *
 * Observe numbers are 24-bit and wrap; the 128 s rule lets a client accept
 * a sequence that restarted (e.g. the device rebooted but kept its observer
 * list) once the old one can no longer be in flight. Anything else is stale
 * (reordered or duplicated) and must not replace what the client has.
 */

/** 2^23: half the 24-bit Observe number space (RFC 7641 §3.4). */
const HALF = 2 ** 23;
/** RFC 7641 §3.4: a notification arriving this long after the last one is always fresh. */
export const FRESHNESS_WINDOW_MS = 128_000;

/** RFC 7641 §3.4 reordering: is V2 (arrived T2) newer than V1 (arrived T1)? */
export function isNewerNotification(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < HALF) || (v1 > v2 && v1 - v2 > HALF) || t2 > t1 + FRESHNESS_WINDOW_MS;
}

export type OrderVerdict =
  /** The registration's first response: always taken. */
  | 'first'
  /** Newer than the last accepted notification (§3.4): taken. */
  | 'newer'
  /** Older or equal (reordered or duplicated): dropped. */
  | 'stale';

/** The §3.4 state of one registration: the last accepted Observe number and when it arrived. */
export class ObserveOrder {
  private last: { v: number; t: number } | null = null;

  /** Judges a notification with Observe value `v` arriving at `t`; accepted ones become the reference. */
  check(v: number, t: number): OrderVerdict {
    const last = this.last;
    if (last === null) {
      this.last = { v, t };
      return 'first';
    }
    // RFC 7641 §3.4 reordering
    if (!isNewerNotification(last.v, last.t, v, t)) return 'stale';
    this.last = { v, t };
    return 'newer';
  }

  get lastObserve(): number | null {
    return this.last?.v ?? null;
  }
}
