import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { encodeBatchCbor } from './batch-encoder.ts';
import { decodeBatchFast } from './batch-decoder.ts';
import { decodeCbor, encodeBatch, inflateBody, type BatchRequest, type WireRecord } from './protocol.ts';
import { anomalyRecord, windowRecord } from './test-support.ts';

const generic = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

const number = fc.oneof(
  fc.integer(), fc.nat({ max: 2 ** 32 + 5 }), fc.integer({ min: -(2 ** 32) - 5, max: 0 }), fc.double(), fc.constantFrom(-0, 2 ** 53, -(2 ** 53), 1767225600123.5),
);
const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ minLength: 24, maxLength: 300 }));
const record = fc.record({
  seq: number, kind: text, priority: number, series: text, tStart: number, tEnd: number, payload: fc.uint8Array({ maxLength: 300 }), replayed: fc.boolean(),
});
const batchArb = fc.record({
  v: number, gatewayId: text, lane: text, firstSeq: number, lastSeq: number,
  skipped: fc.array(fc.tuple(number, number), { maxLength: 3 }), records: fc.array(record, { maxLength: 30 }), sentAtMs: number,
}) as fc.Arbitrary<BatchRequest>;

test('property: the batch encoder writes what decodes as cbor-x\'s encoding of the same value decodes', () => {
  fc.assert(fc.property(batchArb, (b) => {
    const mine = encodeBatchCbor(b);
    assert.notEqual(mine, null);
    assert.deepEqual(decodeCbor(mine!), decodeCbor(generic.encode(b)));
  }), { numRuns: 500 });
});

test('the uplink\'s batches, as encoded, take the service\'s fast path unchanged', () => {
  const records: WireRecord[] = [
    windowRecord(1), anomalyRecord(2), { ...windowRecord(4, {}, true), series: 'ß/温度/🙂', tStart: -1.5, tEnd: 2 ** 40 }, windowRecord(2 ** 32 + 1),
  ];
  const b: BatchRequest = { v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 2 ** 32 + 1, skipped: [[3, 3], [5, 2 ** 32]], records, sentAtMs: 1767225600123 };
  const back = decodeBatchFast(inflateBody(encodeBatch(b, 1)));
  assert.ok(back !== null);
  assert.deepEqual({ ...back, records: back.records.map((r) => ({ ...r, payload: Array.from(r.payload) })) },
    { ...b, records: b.records.map((r) => ({ ...r, payload: Array.from(r.payload) })) });
});

test('a value of another shape than BatchRequest is left to the generic encoder', () => {
  const odd = [
    { ...windowRecord(1), seq: '1' },
    { ...windowRecord(1), payload: [1, 2] },
    { ...windowRecord(1), replayed: 1 },
  ] as unknown as WireRecord[];
  for (const r of odd) {
    const b: BatchRequest = { v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 1, skipped: [], records: [r], sentAtMs: 0 };
    assert.equal(encodeBatchCbor(b), null);
    assert.deepEqual(decodeCbor(inflateBody(encodeBatch(b))), decodeCbor(generic.encode(b)));
  }
  assert.equal(encodeBatchCbor({ v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 1, skipped: [[1] as unknown as [number, number]], records: [], sentAtMs: 0 }), null);
});
