import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Decoder, Encoder } from 'cbor-x';
import { indexRecord, type RecordIndex } from './payload-index.ts';

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });
const cbor = (v: unknown): Uint8Array => Uint8Array.from(encoder.encode(v));
const NONE: RecordIndex = { pipeline: null, deviceId: null, metric: null };

/** What the index was before the walk: decode the whole payload with cbor-x and read the fields. The walk must agree with it. */
function byDecoding(kind: string, payload: Uint8Array): RecordIndex {
  if (kind !== 'window' && kind !== 'anomaly' && kind !== 'late') return NONE;
  let o: Record<string, unknown>;
  try {
    const v = decoder.decode(payload) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return NONE;
    o = v as Record<string, unknown>;
  } catch {
    return NONE;
  }
  if (o.type !== kind) return NONE;
  const s = (v: unknown): string | null => (typeof v === 'string' && v.length <= 256 ? v : null);
  const keyField = (name: string): string | null => (typeof o.key === 'object' && o.key !== null ? s((o.key as Record<string, unknown>)[name]) : null);
  const reading = typeof o.reading === 'object' && o.reading !== null ? (o.reading as Record<string, unknown>) : {};
  switch (kind) {
    case 'window':
      return { pipeline: s(o.pipeline), deviceId: keyField('deviceId'), metric: keyField('metric') };
    case 'anomaly':
      return { pipeline: s(o.pipeline), deviceId: s(o.deviceId), metric: s(o.metric) };
    case 'late':
      return { pipeline: s(o.pipeline), deviceId: s(reading.deviceId) ?? keyField('deviceId'), metric: s(reading.metric) ?? keyField('metric') };
  }
}

const window = {
  type: 'window', pipeline: 'stats-10s', key: { deviceId: 'dev-1', metric: 'temperature' }, start: 1767225600000, end: 1767225610000,
  version: 1, count: 10, values: { count: 10, mean: 21.437, min: 18.01, max: 25.99, stddev: 2.2, p95: 25.5, none: null },
  retracts: [{ start: 1, end: 2, version: 1 }], merged: { windows: 2, inexact: ['p95'] }, partial: false,
};
const anomaly = {
  type: 'anomaly', pipeline: 'alarms', key: { deviceId: 'dev-2', metric: 'temperature' }, deviceId: 'dev-2', metric: 'temperature',
  eventTime: 1767225604321, score: 0.93, detector: 'ewma-z', reason: 'z-score 4.2 above 3.5', expected: [21.5, 22], observed: 29.75,
};
const late = {
  type: 'late', pipeline: 'stats-10s', key: { deviceId: 'dev-3' },
  reading: { deviceId: 'dev-3', metric: 'humidity', value: 40.5, eventTime: 1, raw: new Uint8Array([1, 2, 3]) }, watermark: 5, missedWindows: [[0, 10]],
};

/** { type: 'window', x: [[[...0]]] nested `depth` arrays deep, pipeline: 'p' } */
function deep(depth: number): Uint8Array {
  return Uint8Array.from([0xa3, 0x64, ...Buffer.from('type'), 0x66, ...Buffer.from('window'), 0x61, 0x78, ...new Array<number>(depth).fill(0x81), 0,
    0x68, ...Buffer.from('pipeline'), 0x61, 0x70]);
}

test('index columns of each kind, and payloads that give none: table', () => {
  const long = 'x'.repeat(257);
  const cases: [string, string, Uint8Array, RecordIndex][] = [
    ['window', 'window', cbor(window), { pipeline: 'stats-10s', deviceId: 'dev-1', metric: 'temperature' }],
    ['anomaly', 'anomaly', cbor(anomaly), { pipeline: 'alarms', deviceId: 'dev-2', metric: 'temperature' }],
    ['late: reading first', 'late', cbor(late), { pipeline: 'stats-10s', deviceId: 'dev-3', metric: 'humidity' }],
    ['late: key as fallback', 'late', cbor({ ...late, reading: {}, key: { deviceId: 'k', metric: 'm' } }), { pipeline: 'stats-10s', deviceId: 'k', metric: 'm' }],
    ['non-ASCII field', 'window', cbor({ ...window, key: { deviceId: 'gerät-ü', metric: '温度' } }), { pipeline: 'stats-10s', deviceId: 'gerät-ü', metric: '温度' }],
    ['a field of 256 characters', 'window', cbor({ ...window, pipeline: 'p'.repeat(256) }), { pipeline: 'p'.repeat(256), deviceId: 'dev-1', metric: 'temperature' }],
    ['a field of 257 characters', 'window', cbor({ ...window, pipeline: long }), { pipeline: null, deviceId: 'dev-1', metric: 'temperature' }],
    ['a field that is no string', 'anomaly', cbor({ ...anomaly, deviceId: 7, metric: ['temperature'] }), { pipeline: 'alarms', deviceId: null, metric: null }],
    ['key is not a map', 'window', cbor({ ...window, key: ['dev-1', 'temperature'] }), { pipeline: 'stats-10s', deviceId: null, metric: null }],
    ['type is another kind', 'window', cbor(anomaly), NONE],
    ['an unindexed kind', 'degrade', cbor({ type: 'degrade', pipeline: 'x' }), NONE],
    ['not a map', 'window', cbor(['window']), NONE],
    ['empty', 'window', new Uint8Array(0), NONE],
    ['truncated', 'window', cbor(window).subarray(0, 40), NONE],
    ['trailing bytes', 'window', Uint8Array.from([...cbor(window), 0]), NONE],
    ['a lone break inside', 'window', Uint8Array.from([0xa1, 0x64, ...Buffer.from('type'), 0xff]), NONE],
    ['reserved additional info', 'window', Uint8Array.from([0xa1, 0x64, ...Buffer.from('type'), 0x1c]), NONE],
    ['a length past the end', 'window', Uint8Array.from([0xa1, 0x64, ...Buffer.from('type'), 0x7b, 0, 0, 1, 0, 0, 0, 0, 0]), NONE],
    ['nested deeper than the limit', 'window', deep(100), NONE],
    ['nested within the limit', 'window', deep(40), { pipeline: 'p', deviceId: null, metric: null }],
  ];
  for (const [name, kind, payload, want] of cases) assert.deepEqual(indexRecord(kind, payload), want, name);
});

test('indefinite-length maps, arrays and strings are walked; duplicate keys: the last wins', () => {
  const type = [0x64, ...Buffer.from('type'), 0x66, ...Buffer.from('window')];
  const pipeline = (p: string): number[] => [0x68, ...Buffer.from('pipeline'), 0x60 + p.length, ...Buffer.from(p)];
  const payload = Uint8Array.from([
    0xbf, ...type, ...pipeline('a'),
    0x61, 0x78, 0x9f, 0x01, 0x5f, 0x41, 0x00, 0xff, 0xff, // x: [_ 1, (_ h'00')]
    0x63, ...Buffer.from('key'), 0xbf, 0x68, ...Buffer.from('deviceId'), 0x61, 0x64, 0xff,
    ...pipeline('b'), 0xff,
  ]);
  assert.deepEqual(indexRecord('window', payload), { pipeline: 'b', deviceId: 'd', metric: null });
});

const field = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 250, maxLength: 260 }), fc.integer(), fc.double(), fc.constant(null), fc.boolean());
const other = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
const place = fc.record({ deviceId: field, metric: field }, { requiredKeys: [] });
const payloadValue = fc.record({
  type: fc.constantFrom('window', 'anomaly', 'late', 'degrade', 7),
  pipeline: field,
  deviceId: field,
  metric: field,
  key: fc.oneof(place, field),
  reading: fc.oneof(place, field),
}, { requiredKeys: [] });

test('property: the walk gives what decoding the whole payload gives', () => {
  fc.assert(fc.property(fc.constantFrom('window', 'anomaly', 'late', 'degrade'), payloadValue, other, fc.nat(), (kind, fields, rest, cut) => {
    const payload = cbor({ ...rest, ...fields });
    assert.deepEqual(indexRecord(kind, payload), byDecoding(kind, payload));
    const prefix = payload.subarray(0, cut % payload.length);
    assert.deepEqual(indexRecord(kind, prefix), NONE);
  }), { numRuns: 500 });
});
