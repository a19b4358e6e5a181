import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer, liveBatch, orderedBatch } from './batch-builder.ts';
import { parseBatch } from '../../cloud-sync/protocol.ts';
import type { OutboxRow } from '../state/store-types.ts';

function row(seq: number, priority: 0 | 1 | 2 = 1, createdAtMs = 100): OutboxRow {
  return { seq, priority, kind: priority === 0 ? 'anomaly' : 'window', series: 's', tStart: seq, tEnd: seq + 1, payload: Uint8Array.of(seq), createdAtMs, bytes: 60 };
}

test('an ordered batch declares the seqs missing from the outbox as skipped, and passes the protocol check', () => {
  const b = orderedBatch('gw', 10, [row(13), row(14), row(17)], (r) => r.createdAtMs < 50, 999);
  assert.deepEqual({ ...b, records: b.records.map((r) => r.seq) }, {
    v: 1, gatewayId: 'gw', lane: 'ordered', firstSeq: 11, lastSeq: 17, skipped: [[11, 12], [15, 16]], records: [13, 14, 17], sentAtMs: 999,
  });
  assert.deepEqual(parseBatch(b).skipped, [[11, 12], [15, 16]]);
  assert.throws(() => orderedBatch('gw', 10, [row(10)], () => false, 0), RangeError);
});

test('replayed flags follow the rule; a live batch spans its rows', () => {
  const b = orderedBatch('gw', 0, [row(1, 1, 10), row(2, 1, 90)], (r) => r.createdAtMs < 50, 0);
  assert.deepEqual(b.records.map((r) => r.replayed), [true, false]);
  const l = liveBatch('gw', [row(40, 0), row(44, 0)], () => false, 5);
  assert.deepEqual([l.lane, l.firstSeq, l.lastSeq, l.skipped, l.records.map((r) => r.seq)], ['live', 40, 44, [], [40, 44]]);
  assert.equal(parseBatch(l).lane, 'live');
});

test('pacer: bytes / rate between sends; none when unlimited', () => {
  const p = new Pacer(1000); // 1,000 B/s
  assert.equal(p.delay(0), 0);
  p.consume(500, 0);
  assert.equal(p.delay(0), 500);
  assert.equal(p.delay(300), 200);
  p.consume(2000, 600);
  assert.equal(p.delay(600), 2000);
  const free = new Pacer(undefined);
  free.consume(1e9, 0);
  assert.equal(free.delay(0), 0);
});
