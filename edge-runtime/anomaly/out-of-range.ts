import { QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import { openState } from './state-codec.ts';

export interface OutOfRangeSettings {
  readonly min: number | null;
  readonly max: number | null;
}

const VERSION = 1;

/**
 * Values outside the valid range (inclusive bounds, from the spec or the
 * device profile) and non-finite values: each one scores 1 and is flagged.
 * Stateless apart from its settings.
 */
export class OutOfRangeDetector implements Detector {
  readonly kind = 'out-of-range' as const;

  constructor(private readonly settings: OutOfRangeSettings) {}

  update(_eventTime: number, value: number): Verdict {
    const { min, max } = this.settings;
    const band = min !== null && max !== null ? ([min, max] as const) : null;
    const where = band !== null ? `the valid range [${min}, ${max}]` : min !== null ? `the minimum ${min}` : `the maximum ${max}`;
    let reason: string | null = null;
    if (!Number.isFinite(value)) reason = `value ${value} is not a finite number`;
    else if (min !== null && value < min) reason = `value ${value} is below ${where}`;
    else if (max !== null && value > max) reason = `value ${value} is above ${where}`;
    if (reason === null) return QUIET;
    const expected = band ?? (min !== null ? min : max!);
    return { score: 1, anomaly: { detector: 'out-of-range', reason, expected, observed: value } };
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return 16;
  }

  snapshot(): DetectorState {
    return { name: 'detector.out-of-range', version: VERSION, data: { spec: this.settings } };
  }

  restore(state: DetectorState): void {
    openState(state, 'detector.out-of-range', VERSION, this.settings);
  }
}
