import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, MAX_RETRY_AFTER_MS, retryAfterMs } from './backoff.ts';

test('full jitter: the n-th failure waits random × min(max, base × 2^n); reset starts over', () => {
  const draws = [0.5, 0.5, 0.5, 0.5, 0.5, 0.99, 0, 0.25];
  let i = 0;
  const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => draws[i++]! });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500, 990, 0]);
  assert.equal(b.failures, 7);
  b.reset();
  assert.equal(b.next(), 25);
});

test('Retry-After: seconds or an HTTP date, clamped to [0, 15 min]; junk is undefined', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cases: [string | undefined, number | undefined][] = [
    ['3', 3000], ['0', 0], [' 12 ', 12_000], ['99999', MAX_RETRY_AFTER_MS],
    ['Thu, 01 Jan 2026 00:00:07 GMT', 7000], ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined], ['-5', undefined], ['1.5', undefined], [undefined, undefined],
  ];
  for (const [h, want] of cases) assert.deepEqual([h, retryAfterMs(h, now)], [h, want]);
});
