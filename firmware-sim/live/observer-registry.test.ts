import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObserverRegistry } from './observer-registry.ts';

const policy = { confirmEveryMs: 1000, ackTimeoutMs: 500, maxObservers: 2 };

test('re-registration with the same endpoint and token replaces the entry (RFC 7641 §4.1)', () => {
  const r = new ObserverRegistry<string>(policy, () => 0, 0);
  assert.deepEqual(r.add('a:1:t', 'h1'), []);
  assert.deepEqual(r.add('a:1:t', 'h2'), ['h1']);
  assert.deepEqual(r.list(), [['a:1:t', 'h2']]);
});

test('bounded: the longest-registered observer is pushed out', () => {
  const r = new ObserverRegistry<string>(policy, () => 0, 0);
  r.add('a', 'A');
  r.add('b', 'B');
  assert.deepEqual(r.add('c', 'C'), ['A']);
  assert.deepEqual(r.keys(), ['b', 'c']);
});

test('non-confirmable by default, confirmable at least every confirmEveryMs; IDs count up and wrap', () => {
  let now = 0;
  const r = new ObserverRegistry<string>(policy, () => now, 0xfffe);
  r.add('a', 'A');
  const plans: [number, boolean, number][] = [];
  for (const t of [100, 999, 1000, 1500, 2000]) {
    now = t;
    const p = r.nextNotification('a', false);
    assert.ok(p);
    plans.push([t, p.confirmable, p.messageId]);
    r.onAck(p.messageId);
  }
  assert.deepEqual(plans, [[100, false, 0xfffe], [999, false, 0xffff], [1000, true, 0], [1500, false, 1], [2000, true, 2]]);
  assert.equal(r.nextNotification('zzz', false), null);
});

test('an unacknowledged confirmable notification expires the observer; an ACK keeps it', () => {
  let now = 0;
  const r = new ObserverRegistry<string>(policy, () => now, 10);
  r.add('a', 'A');
  r.add('b', 'B');
  const pa = r.nextNotification('a', true);
  const pb = r.nextNotification('b', true);
  assert.deepEqual([pa?.messageId, pb?.messageId], [10, 11]);
  r.onAck(10);
  now = 499;
  assert.deepEqual(r.sweep(), []);
  now = 500;
  assert.deepEqual(r.sweep(), ['B']);
  assert.deepEqual(r.keys(), ['a']);
});

test('an RST for a recent notification removes its observer; unknown IDs are ignored', () => {
  const r = new ObserverRegistry<string>(policy, () => 0, 7);
  r.add('a', 'A');
  r.nextNotification('a', false);
  assert.equal(r.onReset(999), null);
  assert.equal(r.onReset(7), 'A');
  assert.equal(r.size, 0);
});
