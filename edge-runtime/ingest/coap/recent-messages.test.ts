import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMessages } from './recent-messages.ts';

test('recent messages: remembered with their delivery state, bounded to the last `limit` IDs', async () => {
  const r = new RecentMessages(2);
  let ok!: () => void;
  let fail!: (e: unknown) => void;
  const a = new Promise<void>((resolve) => (ok = resolve));
  const b = new Promise<void>((_, reject) => (fail = reject));
  b.catch(() => {});
  r.remember(1, a);
  r.remember(2, b);
  assert.equal(r.get(1)?.state, 'pending');
  ok();
  fail(new Error('disk full'));
  await a;
  await b.catch(() => {});
  assert.equal(r.get(1)?.state, 'done');
  assert.equal(r.get(2)?.state, 'failed');
  assert.equal(r.get(1)?.promise, a, 'a duplicate is acknowledged with the original');
  r.remember(3, Promise.resolve());
  assert.equal(r.get(1), undefined, 'the oldest ID is forgotten');
  assert.notEqual(r.get(2), undefined);
});
