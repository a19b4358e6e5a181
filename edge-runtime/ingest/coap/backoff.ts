/**
 * Reconnect backoff: exponential with "equal jitter" (half the ceiling fixed,
 * half random), so a fleet of devices that went away together does not come
 * back in lock-step. Pure: the random source is passed in.
 */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay (default 1,000 ms). */
  readonly baseMs: number;
  /** Largest delay (default 60,000 ms). */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60_000 };

/** Delay before retry number `failures` (1 = after the first failure); `random()` in [0, 1). */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number): number {
  if (failures <= 0) return 0;
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}
