/**
 * Errors raised by the sketches. Callers switch on `code`, never on message text.
 *
 * - `E_SKETCH_MISMATCH`: two sketches with different parameters (relative accuracy,
 *   bin limit, precision) were asked to merge; their contents are not comparable.
 * - `E_SKETCH_STATE`: `fromState` was handed data that is not a state this module
 *   writes (wrong shape, version, or internally inconsistent). No sketch is built.
 * - `E_SKETCH_ARGUMENT`: a constructor option or query argument is out of range
 *   (e.g. `relativeAccuracy` outside (0, 1), `quantile(1.5)`, precision 3).
 */
export type SketchErrorCode = 'E_SKETCH_MISMATCH' | 'E_SKETCH_STATE' | 'E_SKETCH_ARGUMENT';

export class SketchError extends Error {
  readonly code: SketchErrorCode;
  constructor(code: SketchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SketchError';
  }
}
