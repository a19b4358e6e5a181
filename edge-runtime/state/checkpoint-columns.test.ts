import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OutboxColumns, StateColumns, checkpointChunks, sealCheckpoint } from './checkpoint-columns.ts';
import type { OutboxInput, Priority, StateRow } from './store-types.ts';

/** Values of every size class the columns meet: empty, small, and larger than the first buffer (16 KiB). */
function bytes(i: number): Uint8Array {
  const len = i % 997 === 0 ? 20_000 + i : i % 7 === 0 ? 0 : (i * 31) % 200;
  return Uint8Array.from({ length: len }, (_, k) => (i + k) & 0xff);
}

const plain = (r: StateRow): unknown => ({ ns: r.ns, key: r.key, value: [...r.value] });
const plainOut = (o: OutboxInput): unknown => ({ ...o, payload: [...o.payload] });

describe('checkpoint columns', () => {
  // 5,000 rows: several growths of every column, namespaces in runs, keys out of order.
  const state: StateRow[] = Array.from({ length: 5000 }, (_, i) => ({ ns: `p/${Math.floor(i / 1700)}`, key: `k${(i * 7919) % 5000}`, value: bytes(i) }));
  const outbox: OutboxInput[] = Array.from({ length: 5000 }, (_, i) => ({
    priority: (i % 3) as Priority, kind: i % 11 === 0 ? 'anomaly' : 'window', series: `d${i % 97}\u001fm`, tStart: i * 10_000 + 0.5, tEnd: i * 10_000 + 10_000, payload: bytes(i + 1),
  }));

  test('rows come back from the sealed form as they went in: upserts in (ns, key) order, outbox in order', () => {
    const s = StateColumns.of(state);
    const o = OutboxColumns.of(outbox);
    assert.equal(s.length, 5000);
    assert.equal(o.length, 5000);
    const chunks = checkpointChunks(sealCheckpoint({ checkpointId: 3, consumedOffset: 9, nowMs: 5 }, s, o, [{ ns: 'p/0', key: 'x' }], [{ ns: 'p/1', key: 'k1' }]));
    assert.equal(chunks.checkpointId, 3);
    assert.equal(chunks.consumedOffset, 9);
    assert.equal(chunks.nowMs, 5);
    assert.deepEqual(chunks.stateDeletes, [{ ns: 'p/0', key: 'x' }]);
    assert.deepEqual(chunks.stateDeletePrefixes, [{ ns: 'p/1', key: 'k1' }]);
    const upserts = [...chunks.stateUpserts];
    assert.ok(upserts.length > 1 && upserts.every((c) => c.length <= 1024), 'read back a chunk at a time');
    const sorted = [...state].sort((a, b) => (a.ns === b.ns ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.ns < b.ns ? -1 : 1));
    assert.deepEqual(upserts.flat().map(plain), sorted.map(plain));
    assert.deepEqual([...chunks.outbox].flat().map(plainOut), outbox.map(plainOut));
  });

  test('rows() gives the rows back in push order; concat puts a failed checkpoint\'s outbox rows in front', () => {
    assert.deepEqual(StateColumns.of(state).rows().map(plain), state.map(plain));
    const first = OutboxColumns.of(outbox.slice(0, 3000));
    const later = OutboxColumns.of(outbox.slice(3000));
    assert.deepEqual(first.concat(later).rows().map(plainOut), outbox.map(plainOut));
  });

  test('a value is copied when pushed, and the sealed form is a copy of its own', () => {
    const s = new StateColumns();
    const o = new OutboxColumns();
    const reused = Uint8Array.of(1, 2, 3);
    s.push('n', 'a', reused);
    o.push({ priority: 1, kind: 'window', series: 's', tStart: 0, tEnd: 1, payload: reused });
    reused[0] = 9;
    const sealed = sealCheckpoint({ checkpointId: 1, consumedOffset: 1 }, s, o, [], []);
    s.push('n', 'b', reused);
    assert.deepEqual([...s.rows()[0]!.value], [1, 2, 3]);
    assert.deepEqual([...sealed.upsertValues.data], [1, 2, 3]);
    assert.equal(sealed.upsertKeys.ends.length, 1);
    // Exact-size buffers: what is transferred to the worker carries no slack.
    assert.equal(sealed.upsertValues.data.buffer.byteLength, 3);
    assert.equal(sealed.outbox.payloads.data.buffer.byteLength, 3);
    assert.equal(sealed.outbox.tStart.buffer.byteLength, 8);
    assert.equal('nowMs' in sealed, false);
  });

  test('an outbox priority a byte cannot carry is refused with E_STATE_ARGUMENT', () => {
    const o = new OutboxColumns();
    assert.throws(() => o.push({ priority: 7 as Priority, kind: 'window', series: 's', tStart: 0, tEnd: 1, payload: new Uint8Array(0) }), { code: 'E_STATE_ARGUMENT' });
    assert.equal(o.length, 0);
  });
});
