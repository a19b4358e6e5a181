/**
 * Injected sensor faults, planned per device × metric in sample-index space
 * so the ground truth is exact: a fault covers samples [k0, k1), and its
 * label covers exactly the timestamps of those samples. Faults draw from
 * their own PRNG stream, so turning faults on or off leaves the clean signal
 * (and every reading outside a label) byte-identical.
 */
import type { MetricSpec } from '../../devices/index.ts';
import type { Prng } from './prng.ts';

export const FAULT_KINDS = ['spike', 'level_shift', 'drift', 'stuck', 'dropout', 'noise_burst', 'out_of_range'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultConfig {
  /** Mean number of faults per device × metric per simulated day (0 = none). */
  readonly perDay: number;
  /** Relative weights of the kinds; a kind with weight 0 never happens. */
  readonly weights: Readonly<Record<FaultKind, number>>;
}

export const DEFAULT_FAULT_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  spike: 4, level_shift: 2, drift: 1, stuck: 2, dropout: 2, noise_burst: 2, out_of_range: 1,
};

/** One planned fault: samples k0 (inclusive) to k1 (exclusive). */
export interface Fault {
  readonly kind: FaultKind;
  readonly k0: number;
  readonly k1: number;
  /** spike/level_shift: added offset; drift: total offset at the end; out_of_range: the value reported. */
  readonly amount: number;
}

/** Min and max number of samples a fault of each kind covers. */
const LENGTH: Readonly<Record<FaultKind, readonly [number, number]>> = {
  spike: [1, 2], level_shift: [30, 240], drift: [60, 600], stuck: [20, 300],
  dropout: [5, 120], noise_burst: [10, 120], out_of_range: [1, 5],
};

export type FaultResult =
  | { readonly kind: 'value'; readonly value: number }
  | { readonly kind: 'drop' };

export class FaultTrack {
  private next: Fault | null = null;
  private stuckValue: number | null = null;
  private readonly meanGap: number;
  private readonly sigma: number;
  private readonly width: number;

  constructor(
    private readonly spec: MetricSpec,
    private readonly rng: Prng,
    intervalMs: number,
    private readonly cfg: FaultConfig,
  ) {
    this.width = spec.range[1] - spec.range[0];
    this.sigma = Math.max(spec.signal.kind === 'counter' ? 0 : (spec.signal.noise ?? 0), this.width * 0.005);
    const samplesPerDay = 86_400_000 / intervalMs;
    this.meanGap = cfg.perDay > 0 ? samplesPerDay / cfg.perDay : Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.meanGap)) this.next = this.plan(Math.floor(this.rng.exp(this.meanGap)));
  }

  /** The fault covering sample k, if any (planning the next one once k passes it). */
  faultAt(k: number): Fault | null {
    while (this.next !== null && k >= this.next.k1) {
      this.stuckValue = null;
      this.next = this.plan(this.next.k1 + 1 + Math.floor(this.rng.exp(this.meanGap)));
    }
    return this.next !== null && k >= this.next.k0 ? this.next : null;
  }

  /**
   * Applies the fault at sample k (if any) to the clean value. `previous` is
   * the value the device reported last (a stuck sensor repeats it).
   */
  apply(k: number, clean: number, previous: number | null): FaultResult {
    const f = this.faultAt(k);
    if (f === null) return { kind: 'value', value: clean };
    const [min, max] = this.spec.range;
    const clamp = (v: number): number => Math.min(max, Math.max(min, v));
    switch (f.kind) {
      case 'spike':
      case 'level_shift': {
        const v = clamp(clean + f.amount);
        return { kind: 'value', value: v === clean ? clamp(clean - f.amount) : v };
      }
      case 'drift':
        return { kind: 'value', value: clamp(clean + (f.amount * (k - f.k0 + 1)) / (f.k1 - f.k0)) };
      case 'stuck':
        if (this.stuckValue === null) this.stuckValue = previous ?? clamp(clean + f.amount);
        return { kind: 'value', value: this.stuckValue };
      case 'dropout':
        return { kind: 'drop' };
      case 'noise_burst':
        return { kind: 'value', value: clamp(clean + this.rng.normal() * f.amount) };
      case 'out_of_range':
        return { kind: 'value', value: f.amount };
    }
  }

  private plan(k0: number): Fault | null {
    if (!Number.isFinite(this.meanGap)) return null;
    const kind = this.rng.weighted(this.cfg.weights);
    const [lo, hi] = LENGTH[kind];
    const len = lo + this.rng.int(hi - lo + 1);
    const sign = this.rng.chance(0.5) ? 1 : -1;
    const s = this.sigma;
    const w = this.width;
    let amount: number;
    switch (kind) {
      case 'spike': amount = sign * Math.max(8 * s, 0.03 * w) * this.rng.range(1, 2); break;
      case 'level_shift': amount = sign * Math.max(4 * s, 0.02 * w) * this.rng.range(1, 2.5); break;
      case 'drift': amount = sign * Math.max(6 * s, 0.04 * w) * this.rng.range(1, 2); break;
      case 'stuck': amount = sign * s; break;
      case 'dropout': amount = 0; break;
      case 'noise_burst': amount = s * this.rng.range(5, 10); break;
      case 'out_of_range': {
        const [min, max] = this.spec.range;
        amount = sign > 0 ? max + w * this.rng.range(0.05, 0.5) : min - w * this.rng.range(0.05, 0.5);
        break;
      }
    }
    return { kind, k0, k1: k0 + len, amount };
  }
}
