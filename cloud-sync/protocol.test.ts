import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Encoder } from 'cbor-x';
import {
  ERROR_STATUS, WireError, decodeCbor, encodeBatch, inflateBody, parseBatch, parseErrorBody, parseHeartbeat, type BatchRequest, type WireRecord,
} from './protocol.ts';
import { HEARTBEAT } from './storage/storage-contract.ts';
import { anomalyRecord, windowRecord } from './test-support.ts';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof WireError ? e.code : `not a WireError: ${String(e)}`;
  }
  return 'no error';
}

const rec = (seq: number, priority: 0 | 1 | 2 = 1): WireRecord => ({ ...windowRecord(seq), priority });
const batch = (b: Partial<BatchRequest>): BatchRequest => ({
  v: 1, gatewayId: 'gw-a', lane: 'ordered', firstSeq: 1, lastSeq: 1, skipped: [], records: [rec(1)], sentAtMs: 0, ...b,
});

test('a batch survives CBOR + deflate and strict parsing unchanged', () => {
  const b = batch({ firstSeq: 1, lastSeq: 4, records: [rec(1), anomalyRecord(2), rec(4)], skipped: [[3, 3]] });
  const back = parseBatch(decodeCbor(inflateBody(encodeBatch(b))));
  assert.deepEqual({ ...back, records: back.records.map((r) => ({ ...r, payload: Uint8Array.from(r.payload) })) }, b);
});

test('sequencing rules of a batch: table', () => {
  const cases: [string, Partial<BatchRequest>, string][] = [
    ['records 1..3', { firstSeq: 1, lastSeq: 3, records: [rec(1), rec(2), rec(3)] }, 'no error'],
    ['records and skipped interleaved', { firstSeq: 5, lastSeq: 10, records: [rec(5), rec(8), rec(10)], skipped: [[6, 7], [9, 9]] }, 'no error'],
    ['skipped only', { firstSeq: 5, lastSeq: 9, records: [], skipped: [[5, 9]] }, 'no error'],
    ['a hole inside', { firstSeq: 1, lastSeq: 3, records: [rec(1), rec(3)] }, 'E_SEQ_INVALID'],
    ['a hole at the start', { firstSeq: 1, lastSeq: 3, records: [rec(2), rec(3)] }, 'E_SEQ_INVALID'],
    ['lastSeq beyond the records', { firstSeq: 1, lastSeq: 4, records: [rec(1), rec(2)] }, 'E_SEQ_INVALID'],
    ['lastSeq below firstSeq', { firstSeq: 3, lastSeq: 2, records: [] }, 'E_SEQ_INVALID'],
    ['not ascending', { firstSeq: 1, lastSeq: 2, records: [rec(2), rec(1)] }, 'E_SEQ_INVALID'],
    ['a seq twice', { firstSeq: 1, lastSeq: 2, records: [rec(1), rec(1), rec(2)] }, 'E_SEQ_INVALID'],
    ['skipped overlapping a record', { firstSeq: 1, lastSeq: 3, records: [rec(1), rec(2), rec(3)], skipped: [[2, 2]] }, 'E_SEQ_INVALID'],
    ['skipped reversed', { firstSeq: 1, lastSeq: 3, records: [rec(1)], skipped: [[3, 2]] }, 'E_SEQ_INVALID'],
    ['empty ordered batch', { firstSeq: 1, lastSeq: 1, records: [], skipped: [] }, 'E_SEQ_INVALID'],
    ['live: priority 0 with gaps', { lane: 'live', firstSeq: 4, lastSeq: 9, records: [rec(4, 0), rec(9, 0)] }, 'no error'],
    ['live: an aggregate', { lane: 'live', firstSeq: 4, lastSeq: 4, records: [rec(4, 1)] }, 'E_SEQ_INVALID'],
    ['live: skipped', { lane: 'live', firstSeq: 4, lastSeq: 5, records: [rec(4, 0)], skipped: [[5, 5]] }, 'E_SEQ_INVALID'],
    ['live: empty', { lane: 'live', firstSeq: 4, lastSeq: 4, records: [] }, 'E_SEQ_INVALID'],
    ['live: firstSeq not the first record', { lane: 'live', firstSeq: 3, lastSeq: 4, records: [rec(4, 0)] }, 'E_SEQ_INVALID'],
    ['seq 0', { firstSeq: 0, lastSeq: 0, records: [rec(0)] }, 'E_INVALID'],
  ];
  for (const [name, b, code] of cases) assert.deepEqual([name, codeOf(() => parseBatch(batch(b)))], [name, code]);
});

test('shape and version errors: table', () => {
  const good = batch({}) as unknown as Record<string, unknown>;
  const r0 = good.records as Record<string, unknown>[];
  const withRecord = (patch: Record<string, unknown>): unknown => ({ ...good, records: [{ ...r0[0], ...patch }] });
  const cases: [string, unknown, string][] = [
    ['no v', { ...good, v: undefined }, 'E_WIRE_VERSION'],
    ['v 2', { ...good, v: 2 }, 'E_WIRE_VERSION'],
    ['v as string', { ...good, v: '1' }, 'E_WIRE_VERSION'],
    ['not a map', [1, 2, 3], 'E_INVALID'],
    ['a number', 42, 'E_INVALID'],
    ['unknown field', { ...good, extra: 1 }, 'E_INVALID'],
    ['missing records', { ...good, records: undefined }, 'E_INVALID'],
    ['bad gateway id', { ...good, gatewayId: 'has space' }, 'E_INVALID'],
    ['lane unknown', { ...good, lane: 'fast' }, 'E_INVALID'],
    ['seq as string', withRecord({ seq: '1' }), 'E_INVALID'],
    ['seq fractional', withRecord({ seq: 1.5 }), 'E_INVALID'],
    ['seq unsafe', withRecord({ seq: 2 ** 60 }), 'E_INVALID'],
    ['priority 3', withRecord({ priority: 3 }), 'E_INVALID'],
    ['kind upper case', withRecord({ kind: 'Window' }), 'E_INVALID'],
    ['tStart NaN', withRecord({ tStart: Number.NaN }), 'E_INVALID'],
    ['tEnd before tStart', withRecord({ tStart: 10, tEnd: 5 }), 'E_INVALID'],
    ['payload as text', withRecord({ payload: 'abc' }), 'E_INVALID'],
    ['payload too big', withRecord({ payload: new Uint8Array(256 * 1024 + 1) }), 'E_TOO_LARGE'],
    ['replayed as 1', withRecord({ replayed: 1 }), 'E_INVALID'],
    ['too many records', { ...good, records: new Array(20_001).fill(r0[0]) }, 'E_TOO_LARGE'],
  ];
  for (const [name, v, code] of cases) {
    const clean = JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? { __bytes: Array.from(x) } : x)),
      (_k, x: unknown) => (typeof x === 'object' && x !== null && '__bytes' in x ? Uint8Array.from((x as { __bytes: number[] }).__bytes) : x)) as unknown;
    // Cases that JSON cannot carry (NaN, undefined) are passed as they are.
    const value = name === 'tStart NaN' || name === 'no v' || name === 'missing records' ? v : clean;
    assert.deepEqual([name, codeOf(() => parseBatch(value))], [name, code]);
  }
});

test('a map whose __proto__ key replaced its prototype is refused, not read through the prototype', () => {
  const enc = new Encoder({ useRecords: false, mapsAsObjects: true });
  const hostile = enc.encode(new Map<string, unknown>([['__proto__', batch({})]]));
  assert.equal(codeOf(() => parseBatch(decodeCbor(hostile))), 'E_INVALID');
});

test('64-bit CBOR integers (bigint after decoding) are accepted in the safe range', () => {
  const enc = new Encoder({ useRecords: false, mapsAsObjects: true });
  const b = batch({}) as unknown as Record<string, unknown>;
  const v = decodeCbor(enc.encode({ ...b, firstSeq: 1n, lastSeq: 1n })) as Record<string, unknown>;
  assert.equal(typeof v.firstSeq, 'bigint');
  assert.equal(parseBatch(v).firstSeq, 1);
});

test('malformed CBOR and deflate map to their codes', () => {
  assert.equal(codeOf(() => decodeCbor(Uint8Array.of(0xa2, 0x61))), 'E_MALFORMED');
  assert.equal(codeOf(() => decodeCbor(new Uint8Array(100_000).fill(0x81))), 'E_MALFORMED');
  assert.equal(codeOf(() => inflateBody(Uint8Array.of(1, 2, 3, 4))), 'E_BAD_DEFLATE');
  assert.equal(codeOf(() => inflateBody(encodeBatch(batch({})), 10)), 'E_TOO_LARGE');
});

test('heartbeat parses exactly; a bad counter is refused', () => {
  assert.deepEqual(parseHeartbeat(JSON.parse(JSON.stringify(HEARTBEAT))), HEARTBEAT);
  assert.equal(codeOf(() => parseHeartbeat({ ...HEARTBEAT, counters: { x: 'y' } })), 'E_INVALID');
  assert.equal(codeOf(() => parseHeartbeat({ ...HEARTBEAT, outbox: { ...HEARTBEAT.outbox, rows: -1 } })), 'E_INVALID');
});

test('error bodies: known codes pass, anything else becomes E_INTERNAL / E_UNAVAILABLE by status', () => {
  assert.deepEqual(parseErrorBody({ code: 'E_SEQ_GAP', message: 'm', contiguousSeq: 4 }, 409), { code: 'E_SEQ_GAP', message: 'm', contiguousSeq: 4 });
  assert.deepEqual(parseErrorBody({ code: 'E_WHATEVER' }, 500), { code: 'E_INTERNAL', message: 'HTTP 500 without a weir error body' });
  assert.deepEqual(parseErrorBody('<html>', 503), { code: 'E_UNAVAILABLE', message: 'HTTP 503 without a weir error body' });
  assert.equal(new WireError('E_SEQ_GAP', 'x').status, ERROR_STATUS.E_SEQ_GAP);
});
