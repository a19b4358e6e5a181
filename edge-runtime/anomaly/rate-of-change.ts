import { FLAG_SCORE, QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import { encNum, openState } from './state-codec.ts';

export interface RateOfChangeSettings {
  readonly maxRatePerSec: number | null;
  readonly maxStep: number | null;
}

const VERSION = 1;

/**
 * A reading that moved too far from the previous one: more than `maxStep`
 * in one step, or faster than `maxRatePerSec` per second of event time.
 * With r = observed / allowed, the score is r / (1 + r): 0.5 exactly at the
 * limit. The rate needs time to pass, so a repeated, backward or non-finite
 * timestamp is checked against `maxStep` only; backward or untimed readings
 * never become the baseline, so a late straggler cannot make the next reading
 * look like a jump.
 */
export class RateOfChangeDetector implements Detector {
  readonly kind = 'rate-of-change' as const;
  private has = false;
  private lastTime = 0;
  private lastValue = 0;

  constructor(private readonly settings: RateOfChangeSettings) {}

  update(eventTime: number, value: number): Verdict {
    if (!Number.isFinite(value)) return QUIET;
    const timeOk = Number.isFinite(eventTime);
    if (!this.has) {
      if (!timeOk) return QUIET;
      this.has = true;
      this.lastTime = eventTime;
      this.lastValue = value;
      return QUIET;
    }
    const { maxRatePerSec, maxStep } = this.settings;
    const step = Math.abs(value - this.lastValue);
    const dt = (eventTime - this.lastTime) / 1000;
    const timed = Number.isFinite(dt) && dt > 0;
    let ratio = 0;
    let allowed = Number.POSITIVE_INFINITY;
    if (maxStep !== null) {
      ratio = step / maxStep;
      allowed = maxStep;
    }
    if (maxRatePerSec !== null && timed) {
      const r = step / (maxRatePerSec * dt);
      if (r > ratio) ratio = r;
      allowed = Math.min(allowed, maxRatePerSec * dt);
    }
    const prev = this.lastValue;
    if (timeOk && eventTime >= this.lastTime) {
      this.lastTime = eventTime;
      this.lastValue = value;
    }
    if (ratio === 0) return QUIET;
    const score = ratio === Number.POSITIVE_INFINITY ? 1 : ratio / (1 + ratio);
    if (score < FLAG_SCORE) return { score, anomaly: null };
    const dir = value > prev ? 'rose' : 'fell';
    const how = timed && maxRatePerSec !== null
      ? `${dir} by ${step} in ${dt} s (${step / dt}/s; limit ${maxRatePerSec}/s${maxStep !== null ? `, ${maxStep} per step` : ''})`
      : `${dir} by ${step} in one step (limit ${maxStep})`;
    return {
      score,
      anomaly: { detector: 'rate-of-change', reason: `value ${how}`, expected: [prev - allowed, prev + allowed], observed: value },
    };
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return 3 * 8 + 16;
  }

  snapshot(): DetectorState {
    return {
      name: 'detector.rate-of-change',
      version: VERSION,
      data: { spec: this.settings, has: this.has, lastTime: encNum(this.lastTime), lastValue: encNum(this.lastValue) },
    };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.rate-of-change', VERSION, this.settings);
    this.has = r.bool('has');
    this.lastTime = r.num('lastTime');
    this.lastValue = r.num('lastValue');
  }
}
