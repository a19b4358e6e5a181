import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventQueue } from './event-queue.ts';

test('pops in time order, ties in insertion order (property)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
    const q = new EventQueue<{ time: number; i: number }>();
    times.forEach((time, i) => q.push({ time, i }));
    const out: { time: number; i: number }[] = [];
    for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e);
    const want = times.map((time, i) => ({ time, i })).sort((a, b) => a.time - b.time || a.i - b.i);
    assert.deepEqual(out, want);
    assert.equal(q.peekTime(), Number.POSITIVE_INFINITY);
  }));
});
