import { FLAG_SCORE, QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import type { EwmaZSpec, Resolved } from './detector-spec.ts';
import { encNum, openState } from './state-codec.ts';

const VERSION = 1;
/** The long-run variance moves this many times slower than the short one. */
const LONG_RUN = 10;
/** σ never counts as less than this share of the long-run σ. */
const SD_FLOOR = 0.3;

/** z² / (z² + threshold²): 0 at the mean, 0.5 at the threshold, → 1. */
export function zScore(z: number, threshold: number): number {
  if (z === Number.POSITIVE_INFINITY) return 1;
  const z2 = z * z;
  return z2 / (z2 + threshold * threshold);
}

/**
 * Exponentially weighted mean and variance (West 1979 incremental form);
 * a reading is scored by its distance from the mean in standard deviations,
 * after `warmup` readings. Updates are winsorised at ±threshold·σ so one
 * spike cannot drag the mean and blow up the variance; a level shift still
 * moves the mean, step by step. σ is floored at 0.3 × a ten-times-slower
 * (unwinsorised) running σ, so a quiet stretch cannot make the next ordinary
 * wiggle look like a thousand-sigma event. Non-finite values are ignored;
 * time plays no part, so repeated or backward timestamps do not matter.
 */
export class EwmaZDetector implements Detector {
  readonly kind = 'ewma-z' as const;
  private n = 0;
  private mean = 0;
  private variance = 0;
  private longVariance = 0;

  constructor(private readonly spec: Resolved<EwmaZSpec>) {}

  update(_eventTime: number, value: number): Verdict {
    if (!Number.isFinite(value)) return QUIET;
    this.n++;
    if (this.n === 1) {
      this.mean = value;
      return QUIET;
    }
    const { alpha, threshold, warmup } = this.spec;
    const sd = Math.max(Math.sqrt(this.variance), SD_FLOOR * Math.sqrt(this.longVariance));
    let d = value - this.mean;
    const slow = alpha / LONG_RUN;
    this.longVariance = (1 - slow) * (this.longVariance + slow * d * d);
    const z = sd > 0 ? Math.abs(d) / sd : d === 0 ? 0 : Number.POSITIVE_INFINITY;
    const scored = this.n > warmup;
    const mean = this.mean;
    if (scored && sd > 0) {
      const cap = threshold * sd;
      if (d > cap) d = cap;
      else if (d < -cap) d = -cap;
    }
    this.mean += alpha * d;
    this.variance = (1 - alpha) * (this.variance + alpha * d * d);
    if (!scored) return QUIET;
    const score = zScore(z, threshold);
    if (score < FLAG_SCORE) return score === 0 ? QUIET : { score, anomaly: null };
    return {
      score,
      anomaly: {
        detector: 'ewma-z',
        reason: sd > 0
          ? `value ${value} is ${z.toPrecision(3)} standard deviations from the moving mean ${mean.toPrecision(6)} (limit ${threshold})`
          : `value ${value} departs from a constant ${mean}`,
        expected: [mean - threshold * sd, mean + threshold * sd],
        observed: value,
      },
    };
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return 4 * 8;
  }

  snapshot(): DetectorState {
    return { name: 'detector.ewma-z', version: VERSION, data: { spec: this.spec, n: this.n, mean: encNum(this.mean), variance: encNum(this.variance), longVariance: encNum(this.longVariance) } };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.ewma-z', VERSION, this.spec);
    this.n = r.int('n');
    this.mean = r.num('mean');
    this.variance = r.num('variance');
    this.longVariance = r.num('longVariance');
  }
}
