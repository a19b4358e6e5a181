import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { decodeBatch, decodeBatchFast } from './batch-decoder.ts';
import { WireError, decodeCbor, encodeBatch, inflateBody, parseBatch, type BatchRequest, type WireRecord } from './protocol.ts';
import { anomalyRecord, windowRecord } from './test-support.ts';

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const cbor = (v: unknown): Uint8Array => Uint8Array.from(encoder.encode(v));

/** What a decode gives, comparable: the batch with payloads as plain arrays, or the error's code and message. */
function outcome(f: () => BatchRequest): unknown {
  try {
    const b = f();
    return { ...b, records: b.records.map((r) => ({ ...r, payload: Array.from(r.payload) })) };
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    return { code: e.code, message: e.message };
  }
}

const generic = (body: Uint8Array): unknown => outcome(() => parseBatch(decodeCbor(body)));

function sameAsGeneric(body: Uint8Array): void {
  assert.deepEqual(outcome(() => decodeBatch(body)), generic(body));
}

const batch = (b: Partial<BatchRequest>): BatchRequest => ({
  v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 1, skipped: [], records: [windowRecord(1)], sentAtMs: 0, ...b,
});

test('batches as the uplink encodes them take the fast path and decode as the generic path does', () => {
  const big = 2 ** 32 + 7;
  const cases: [string, BatchRequest][] = [
    ['windows, an anomaly and a skipped range', batch({ firstSeq: 1, lastSeq: 5, records: [windowRecord(1), anomalyRecord(2), windowRecord(5, {}, true)], skipped: [[3, 4]] })],
    ['a payload as a Buffer (no typed-array tag)', batch({ records: [{ ...windowRecord(1), payload: Buffer.from([1, 2, 3]) }] })],
    ['live lane', batch({ lane: 'live', firstSeq: 7, lastSeq: 9, records: [anomalyRecord(7), anomalyRecord(9)] })],
    ['skipped only', batch({ firstSeq: 3, lastSeq: 9, records: [], skipped: [[3, 9]] })],
    ['seqs past 2^32, negative and fractional times, non-ASCII series', batch({
      firstSeq: big, lastSeq: big + 1, sentAtMs: 1767225600123.5,
      records: [{ ...windowRecord(big), series: 'ß/温度/🙂', tStart: -1.25, tEnd: 0 }, { ...anomalyRecord(big + 1), payload: new Uint8Array(300) }],
    })],
  ];
  for (const [name, b] of cases) {
    const body = inflateBody(encodeBatch(b, 1));
    assert.notEqual(decodeBatchFast(body), null, name);
    assert.deepEqual(outcome(() => decodeBatch(body)), generic(body), name);
    assert.deepEqual(outcome(() => decodeBatch(body)), outcome(() => b), name);
  }
});

test('what the fast path does not take goes the generic way: same value or same error, table', () => {
  const rec = windowRecord(1);
  const cases: [string, unknown][] = [
    ['wrong version', { ...batch({}), v: 2 }],
    ['a field missing', { v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 1, skipped: [], records: [rec] }],
    ['an unknown field', { ...batch({}), extra: 1 }],
    ['a record field missing', batch({ records: [{ ...rec, replayed: undefined } as unknown as WireRecord] })],
    ['an unknown record field', batch({ records: [{ ...rec, more: 1 } as unknown as WireRecord] })],
    ['keys in another order', { records: [{ replayed: false, payload: rec.payload, tEnd: 20, tStart: 10, series: 's', priority: 1, kind: 'window', seq: 1 }],
      sentAtMs: 0, skipped: [], lastSeq: 1, firstSeq: 1, lane: 'ordered', gatewayId: 'gw-a', v: 1 }],
    ['a bad kind', batch({ records: [{ ...rec, kind: 'Window' }] })],
    ['priority 3', batch({ records: [{ ...rec, priority: 3 as 1 }] })],
    ['tEnd before tStart', batch({ records: [{ ...rec, tStart: 5, tEnd: 4 }] })],
    ['a time that is not finite', batch({ records: [{ ...rec, tStart: Number.NaN }] })],
    ['a fractional seq', batch({ records: [{ ...rec, seq: 1.5 }] })],
    ['a seq as a 64-bit integer', batch({ records: [{ ...rec, seq: 5n as unknown as number }], firstSeq: 5, lastSeq: 5 })],
    ['a payload that is text', batch({ records: [{ ...rec, payload: 'bytes' as unknown as Uint8Array }] })],
    ['a payload over the limit', batch({ records: [{ ...rec, payload: new Uint8Array(256 * 1024 + 1) }] })],
    ['a series over the limit', batch({ records: [{ ...rec, series: 'x'.repeat(1025) }] })],
    ['a bad gateway id', batch({ gatewayId: 'gw a' })],
    ['a bad lane', { ...batch({}), lane: 'fast' }],
    ['a skipped range of three', batch({ firstSeq: 1, lastSeq: 3, records: [rec], skipped: [[2, 3, 4] as unknown as [number, number]] })],
    ['sequencing broken', batch({ firstSeq: 1, lastSeq: 2, records: [rec] })],
    ['not a map', [1, 2, 3]],
  ];
  for (const [name, v] of cases) {
    const body = cbor(v);
    assert.deepEqual(outcome(() => decodeBatch(body)), generic(body), name);
  }
  const ok = cbor(batch({}));
  sameAsGeneric(Uint8Array.from([...ok, 0])); // trailing bytes
  sameAsGeneric(ok.subarray(0, ok.length - 3)); // truncated
  // Invalid UTF-8 in the series: left to cbor-x.
  const bad = cbor(batch({ records: [{ ...rec, series: 'aé' }] }));
  const at = Buffer.from(bad).indexOf(Buffer.from('aé'));
  bad[at + 2] = 0xff;
  assert.equal(decodeBatchFast(bad), null);
  sameAsGeneric(bad);
});

const anyValue = fc.oneof(
  fc.integer(), fc.double(), fc.string({ maxLength: 12 }), fc.boolean(), fc.constant(null), fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 8 }), fc.array(fc.nat(), { maxLength: 3 }),
);
const maybe = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: anyValue });
const recordArb = fc.record({
  seq: maybe(fc.integer({ min: 1, max: 40 })),
  kind: maybe(fc.constantFrom('window', 'anomaly', 'late', 'x-1')),
  priority: maybe(fc.integer({ min: 0, max: 2 })),
  series: maybe(fc.string({ maxLength: 20 })),
  tStart: maybe(fc.double({ min: -1e13, max: 1e13, noNaN: true })),
  tEnd: maybe(fc.constant(2e13)),
  payload: maybe(fc.uint8Array({ maxLength: 20 })),
  replayed: maybe(fc.boolean()),
}, { requiredKeys: ['seq', 'kind', 'priority', 'series', 'tStart', 'tEnd', 'payload', 'replayed'] });

test('property: decodeBatch answers as parseBatch(decodeCbor(...)), also for corrupted bodies', () => {
  fc.assert(fc.property(
    fc.array(recordArb, { maxLength: 6 }), maybe(fc.constantFrom('ordered', 'live')), maybe(fc.integer({ min: 1, max: 3 })), maybe(fc.integer({ min: 1, max: 50 })),
    fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 })), { maxLength: 2 }), fc.nat(), fc.nat(255),
    (records, lane, firstSeq, lastSeq, skipped, at, byte) => {
      const sorted = [...records].sort((a, b) => (typeof a.seq === 'number' && typeof b.seq === 'number' ? a.seq - b.seq : 0));
      const body = cbor({ v: 1, gatewayId: 'gw-a', lane, firstSeq, lastSeq, skipped, records: sorted, sentAtMs: 5 });
      sameAsGeneric(body);
      const flipped = Uint8Array.from(body);
      flipped[at % flipped.length] = byte;
      sameAsGeneric(flipped);
    },
  ), { numRuns: 2000 });
});
