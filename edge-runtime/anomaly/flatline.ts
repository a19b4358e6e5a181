import { QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import type { FlatlineSpec, Resolved } from './detector-spec.ts';
import { encNum, openState } from './state-codec.ts';

const VERSION = 1;

/**
 * Stuck sensor: `count` readings in a row within `tolerance` of the first of
 * them, spanning at least `minDurationMs` of event time. Every reading of a
 * flatline scores 1; the alert is raised once, on the reading that completes
 * it. A reading that leaves the band starts a new run. Non-finite values are
 * ignored; the duration uses the largest event time seen in the run, so a
 * backward timestamp cannot shorten it.
 */
export class FlatlineDetector implements Detector {
  readonly kind = 'flatline' as const;
  private anchor = 0;
  private run = 0;
  private runStart = 0;
  private runLatest = 0;
  private alerted = false;

  constructor(private readonly spec: Resolved<FlatlineSpec>) {}

  update(eventTime: number, value: number): Verdict {
    if (!Number.isFinite(value)) return QUIET;
    const t = Number.isFinite(eventTime) ? eventTime : this.runLatest;
    if (this.run > 0 && Math.abs(value - this.anchor) <= this.spec.tolerance) {
      this.run++;
      if (t > this.runLatest) this.runLatest = t;
    } else {
      this.anchor = value;
      this.run = 1;
      this.runStart = t;
      this.runLatest = t;
      this.alerted = false;
    }
    const duration = this.runLatest - this.runStart;
    if (this.run < this.spec.count || duration < this.spec.minDurationMs) return QUIET;
    if (this.alerted) return { score: 1, anomaly: null };
    this.alerted = true;
    const tol = this.spec.tolerance;
    return {
      score: 1,
      anomaly: {
        detector: 'flatline',
        reason: `value stuck at ${this.anchor}${tol > 0 ? ` (±${tol})` : ''} for ${this.run} readings over ${duration} ms`,
        expected: [this.anchor - tol, this.anchor + tol],
        observed: value,
      },
    };
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return 5 * 8;
  }

  snapshot(): DetectorState {
    return {
      name: 'detector.flatline',
      version: VERSION,
      data: {
        spec: this.spec, anchor: encNum(this.anchor), run: this.run, runStart: encNum(this.runStart),
        runLatest: encNum(this.runLatest), alerted: this.alerted,
      },
    };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.flatline', VERSION, this.spec);
    this.anchor = r.num('anchor');
    this.run = r.int('run');
    this.runStart = r.num('runStart');
    this.runLatest = r.num('runLatest');
    this.alerted = r.bool('alerted');
  }
}
