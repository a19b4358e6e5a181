import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.ts';
import { createDetector } from './create-detector.ts';
import { resolveDetectorSpec } from './detector-spec.ts';

const fieldError = (field: string) => (e: unknown): boolean => e instanceof ConfigError && e.code === 'E_CONFIG' && e.field === field;

describe('resolveDetectorSpec', () => {
  test('fills defaults', () => {
    assert.deepEqual(resolveDetectorSpec({ kind: 'ewma-z' }), { kind: 'ewma-z', alpha: 0.05, threshold: 4, warmup: 30 });
    assert.deepEqual(resolveDetectorSpec({ kind: 'robust-mad', window: 8 }), { kind: 'robust-mad', window: 8, threshold: 5, warmup: 8, minScale: 0 });
    assert.deepEqual(resolveDetectorSpec({ kind: 'flatline', tolerance: 0.1 }), { kind: 'flatline', count: 10, tolerance: 0.1, minDurationMs: 0 });
    assert.deepEqual(resolveDetectorSpec({ kind: 'novelty' }), { kind: 'novelty', warmup: 150, spatialTolerance: 0.05, suppress: 100 });
    assert.deepEqual(resolveDetectorSpec({ kind: 'dropout' }), { kind: 'dropout', factor: 3 });
    assert.deepEqual(resolveDetectorSpec({ kind: 'out-of-range', max: 5 }), { kind: 'out-of-range', max: 5 });
  });

  const BAD: [unknown, string][] = [
    [null, 'd'],
    [[], 'd'],
    [{}, 'd.kind'],
    [{ kind: 'fourier' }, 'd.kind'],
    [{ kind: 'ewma-z', alpha: 1 }, 'd.alpha'],
    [{ kind: 'ewma-z', alpha: '0.1' }, 'd.alpha'],
    [{ kind: 'ewma-z', threshold: -1 }, 'd.threshold'],
    [{ kind: 'ewma-z', warmup: 2.5 }, 'd.warmup'],
    [{ kind: 'ewma-z', window: 10 }, 'd.window'],
    [{ kind: 'robust-mad', window: 4 }, 'd.window'],
    [{ kind: 'robust-mad', window: 300 }, 'd.window'],
    [{ kind: 'robust-mad', window: 16, warmup: 20 }, 'd.warmup'],
    [{ kind: 'flatline', count: 1 }, 'd.count'],
    [{ kind: 'flatline', tolerance: Number.NaN }, 'd.tolerance'],
    [{ kind: 'rate-of-change' }, 'd.maxRatePerSec'],
    [{ kind: 'rate-of-change', maxStep: 0 }, 'd.maxStep'],
    [{ kind: 'out-of-range', min: 5, max: 1 }, 'd.min'],
    [{ kind: 'out-of-range', min: Number.POSITIVE_INFINITY }, 'd.min'],
    [{ kind: 'dropout', factor: 0.5 }, 'd.factor'],
    [{ kind: 'novelty', warmup: 5 }, 'd.warmup'],
    [{ kind: 'novelty', suppress: -1 }, 'd.suppress'],
  ];
  for (const [spec, field] of BAD) {
    test(`names ${field} for ${JSON.stringify(spec)}`, () => {
      assert.throws(() => resolveDetectorSpec(spec, 'd'), fieldError(field));
    });
  }
});

describe('createDetector and the series context', () => {
  test('out-of-range takes its bounds from the profile range unless the spec overrides one', () => {
    const d = createDetector({ kind: 'out-of-range', max: 50 }, { validRange: [-40, 125] });
    assert.equal(d.update(0, -41).anomaly?.reason, 'value -41 is below the valid range [-40, 50]');
    assert.equal(d.update(0, 51).anomaly?.reason, 'value 51 is above the valid range [-40, 50]');
    assert.equal(d.update(0, 50).anomaly, null);
  });

  test('out-of-range without bounds anywhere, and dropout without an interval, are config errors', () => {
    assert.throws(() => createDetector({ kind: 'out-of-range' }, {}, 'p.detect[0]'), fieldError('p.detect[0].min'));
    assert.throws(() => createDetector({ kind: 'dropout' }, {}, 'p.detect[1]'), fieldError('p.detect[1].intervalMs'));
    assert.throws(() => createDetector({ kind: 'out-of-range', min: 130 }, { validRange: [-40, 125] }), fieldError('detector.min'));
  });

  test('dropout takes the profile sampling interval', () => {
    const d = createDetector({ kind: 'dropout', factor: 2 }, { expectedIntervalMs: 10_000 });
    d.update(0, 1, 0);
    assert.equal(d.onProcessingTime(20_000), null);
    assert.equal(d.onProcessingTime(20_001)?.anomaly?.expected, 10_000);
  });
});
