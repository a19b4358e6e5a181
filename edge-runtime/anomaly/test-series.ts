/**
 * Constructed series for detector tests: deterministic, one reading per
 * second from T0. `noise(i)` is a fixed pattern in [−0.6, 0.6] with period 13
 * and no two equal neighbours, so nothing is flat by accident.
 */
export const T0 = Date.UTC(2026, 0, 1);

export function noise(i: number): number {
  return (((i * 7919) % 13) - 6) / 10;
}

export type Scenario = 'normal' | 'spike' | 'shift' | 'drift' | 'flatline' | 'dropout';

export interface Series {
  readonly t: number[];
  readonly v: number[];
}

/** 400 readings around 20; the anomaly starts at reading 200. */
export function scenario(kind: Scenario, length = 400, at = 200): Series {
  const t: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < length; i++) {
    if (kind === 'dropout' && i >= at && i < at + 60) continue; // 60 s without readings
    let x = 20 + noise(i);
    if (kind === 'spike' && i === at) x = 35;
    if (kind === 'shift' && i >= at) x += 8;
    if (kind === 'drift' && i >= at) x += 0.05 * (i - at);
    if (kind === 'flatline' && i >= at && i < at + 30) x = 21.3;
    t.push(T0 + i * 1000);
    v.push(x);
  }
  return { t, v };
}

/** A daily-like pattern (period 50) for the novelty detector: 3,000 readings, anomaly from 2,000. */
export function periodic(kind: Scenario, length = 3000, at = 2000): Series {
  const t: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < length; i++) {
    let x = 20 + 5 * Math.sin((2 * Math.PI * i) / 50) + noise(i) / 2;
    if (kind === 'spike' && i === at) x = 40;
    if (kind === 'shift' && i >= at) x = 20 + 2 * Math.sin((2 * Math.PI * i) / 50) + noise(i) / 2; // same mean, smaller swing
    if (kind === 'drift' && i >= at) x += 0.02 * (i - at);
    if (kind === 'flatline' && i >= at && i < at + 100) x = 22;
    t.push(T0 + i * 1000);
    v.push(x);
  }
  return { t, v };
}

/** Indices of readings a detector flagged (anomaly set). */
export function flagged(update: (t: number, v: number) => { anomaly: unknown }, s: Series): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.v.length; i++) if (update(s.t[i]!, s.v[i]!).anomaly !== null) out.push(i);
  return out;
}
