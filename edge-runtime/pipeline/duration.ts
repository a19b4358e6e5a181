import { ConfigError } from '../errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "10s", "1.5m", "2h", "1d", or a number of milliseconds. */
export function parseDuration(v: unknown, field: string, opts: { allowZero?: boolean } = {}): number {
  let ms: number;
  if (typeof v === 'number') ms = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(v);
    if (!m) throw new ConfigError(field, `expected a duration like "500ms", "10s", "5m", "1h" or a number of ms, got ${JSON.stringify(v)}`);
    ms = Number(m[1]) * UNITS[m[2]!]!;
  } else {
    throw new ConfigError(field, `expected a duration, got ${v === null ? 'null' : typeof v}`);
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !opts.allowZero)) {
    throw new ConfigError(field, `must be a ${opts.allowZero ? 'non-negative' : 'positive'} duration, got ${JSON.stringify(v)}`);
  }
  if (!Number.isInteger(ms)) throw new ConfigError(field, `must be a whole number of milliseconds, got ${ms}`);
  return ms;
}
