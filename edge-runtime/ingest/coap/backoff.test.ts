import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, backoffDelay } from './backoff.ts';

test('backoff: ceiling doubles from base to cap; equal jitter keeps half of it fixed', () => {
  const cases: [number, number, number][] = [
    // failures, random, delay
    [0, 0.9, 0],
    [1, 0, 500],
    [1, 0.999999, 999],
    [2, 0.5, 1500],
    [3, 0, 2000],
    [6, 0.5, 24_000],
    [7, 0, 30_000], // 64 s ceiling capped at 60 s
    [7, 0.999999, 59_999],
    [1000, 0.5, 45_000], // no overflow for long outages
  ];
  for (const [failures, r, want] of cases) {
    assert.equal(backoffDelay(failures, DEFAULT_BACKOFF, () => r), want, `failures=${failures} random=${r}`);
  }
});
