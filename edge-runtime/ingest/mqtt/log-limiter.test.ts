import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryLogger } from '../../log.ts';
import { LogLimiter } from './log-limiter.ts';

test('at most `burst` entries per kind and interval; the next window reports how many were held back', () => {
  const logger = memoryLogger();
  let t = 0;
  const lim = new LogLimiter(logger, 2, 1000, () => t);
  for (let i = 0; i < 5; i++) lim.log('warn', 'refused', { i });
  lim.log('warn', 'other', {});
  t = 1000;
  lim.log('warn', 'refused', { i: 5 });
  assert.deepEqual(logger.entries.map((e) => [e.msg, e.fields]), [
    ['refused', { i: 0 }],
    ['refused', { i: 1 }],
    ['other', {}],
    ['refused', { i: 5, suppressed: 3 }],
  ]);
});
