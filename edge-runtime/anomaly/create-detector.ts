import { ConfigError } from '../errors.ts';
import type { Detector, DetectorState, SeriesContext } from './detector.ts';
import { resolveDetectorSpec } from './detector-spec.ts';
import { DropoutDetector } from './dropout.ts';
import { EwmaZDetector } from './ewma-z.ts';
import { FlatlineDetector } from './flatline.ts';
import { NoveltyDetector } from './novelty.ts';
import { OutOfRangeDetector } from './out-of-range.ts';
import { RateOfChangeDetector } from './rate-of-change.ts';
import { RobustMadDetector } from './robust-mad.ts';

/**
 * Builds a detector for one series from a spec (checked, defaults filled) and
 * what the device profile says about the series. `field` locates the spec in
 * its file for error messages. A keyed "detect" operator calls this once per
 * new series and `restoreDetector` when it comes back from a checkpoint.
 */
export function createDetector(spec: unknown, context: SeriesContext = {}, field = 'detector'): Detector {
  const s = resolveDetectorSpec(spec, field);
  switch (s.kind) {
    case 'out-of-range': {
      const min = s.min ?? context.validRange?.[0] ?? null;
      const max = s.max ?? context.validRange?.[1] ?? null;
      if (min === null && max === null) {
        throw new ConfigError(`${field}.min`, 'out-of-range needs min or max, in the spec or as the metric range of the device profile');
      }
      if (min !== null && max !== null && min > max) throw new ConfigError(`${field}.min`, `min ${min} is above max ${max}`);
      return new OutOfRangeDetector({ min, max });
    }
    case 'rate-of-change':
      return new RateOfChangeDetector({ maxRatePerSec: s.maxRatePerSec ?? null, maxStep: s.maxStep ?? null });
    case 'flatline':
      return new FlatlineDetector(s);
    case 'dropout': {
      const intervalMs = s.intervalMs ?? context.expectedIntervalMs;
      if (intervalMs === undefined || !(intervalMs > 0)) {
        throw new ConfigError(`${field}.intervalMs`, 'dropout needs intervalMs, in the spec or as samplingIntervalMs of the device profile');
      }
      return new DropoutDetector({ intervalMs, factor: s.factor ?? 3 });
    }
    case 'ewma-z':
      return new EwmaZDetector(s);
    case 'robust-mad':
      return new RobustMadDetector(s);
    case 'novelty':
      return new NoveltyDetector(s);
  }
}

/** A detector for the spec, with the state of a snapshot taken under the same spec and context. */
export function restoreDetector(spec: unknown, context: SeriesContext, state: DetectorState, field = 'detector'): Detector {
  const d = createDetector(spec, context, field);
  d.restore(state);
  return d;
}
