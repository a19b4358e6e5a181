import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { SourceRecord } from '../engine/types.ts';
import { decodeSegment, encodeSegment } from './segment-codec.ts';
import { benchReadings, makeRecords } from './test-support.ts';

const T = 1_700_000_000_000;
const reading = (value: number, eventTime = T, arrivalTime = T, extra: { deviceId?: string; metric?: string } = {}): SourceRecord =>
  ({ type: 'reading', reading: { deviceId: extra.deviceId ?? 'd1', metric: extra.metric ?? 'm', value, eventTime, arrivalTime } });

describe('segment codec', () => {
  const cases: [string, SourceRecord[]][] = [
    ['empty', []],
    ['ticks only', [{ type: 'tick', processingTime: T }, { type: 'tick', processingTime: T + 0.5 }]],
    ['integer values (compact column)', [reading(1), reading(-7), reading(2 ** 40), reading(0)]],
    ['integer values with -0 (needs the exact column)', [reading(1), reading(-0), reading(3)]],
    ['NaN and infinities', [reading(Number.NaN), reading(Number.POSITIVE_INFINITY), reading(Number.NEGATIVE_INFINITY)]],
    ['fractional values', [reading(21.37), reading(0.1 + 0.2), reading(-1e-300)]],
    ['times going backwards (negative deltas)', [reading(1, T + 100, T), reading(2, T - 5000, T - 1), reading(3, 0, 0)]],
    ['fractional event time (absolute columns)', [reading(1, T + 0.25), reading(2, T)]],
    ['-0 time (absolute columns)', [reading(1, -0, T), reading(2, T, -0)]],
    ['times beyond 2^53', [reading(1, 2 ** 60, 2 ** 60 + 4096)]],
    ['tags of every type', [{ type: 'reading', reading: { deviceId: 'd', metric: 'm', value: 1, eventTime: T, arrivalTime: T, tags: { a: 'x', b: 2.5, c: false, 'with space': 'é' } } }]],
    ['ticks between readings', [{ type: 'tick', processingTime: T }, reading(1), { type: 'tick', processingTime: T + 1 }, reading(2), reading(3), { type: 'tick', processingTime: T + 2 }]],
    ['unicode ids', [reading(1, T, T, { deviceId: 'capteur-é-😀', metric: 'température' })]],
    ['generated, with awkward values', makeRecords(1000, 5, { awkward: true })],
  ];
  for (const [name, records] of cases) {
    test(`round-trips exactly: ${name}`, () => {
      assert.deepEqual(decodeSegment(encodeSegment(records)), records);
    });
  }

  test('the encoded bytes own their buffer (safe to transfer)', () => {
    const a = encodeSegment(makeRecords(10, 1));
    const b = encodeSegment(makeRecords(10, 2));
    assert.equal(a.byteOffset, 0);
    assert.equal(a.buffer.byteLength, a.byteLength);
    assert.notEqual(a.buffer, b.buffer);
  });

  test('readings cost at most 18 bytes each in a 1,000-reading segment of 500 devices', () => {
    const n = 1000;
    const perReading = encodeSegment(benchReadings(n)).byteLength / n;
    assert.ok(perReading <= 18, `${perReading} B/reading`);
  });

  test('garbage is refused with E_STATE_CORRUPT', () => {
    for (const bad of [Uint8Array.from([0xff, 0x00]), Uint8Array.from([0x80]), encodeSegment([]).subarray(0, 3)]) {
      assert.throws(() => decodeSegment(bad), (e: unknown) => (e as { code?: string }).code === 'E_STATE_CORRUPT');
    }
  });

  test('property: any records round-trip exactly', () => {
    const num = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, 2 ** 53, -(2 ** 53)));
    const time = fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ noNaN: true }));
    const tagValue = fc.oneof(fc.string(), fc.boolean(), fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)));
    const rec: fc.Arbitrary<SourceRecord> = fc.oneof(
      fc.record({ type: fc.constant('tick' as const), processingTime: time }, { noNullPrototype: true }),
      fc.record({
        type: fc.constant('reading' as const),
        reading: fc.record({
          deviceId: fc.string(), metric: fc.string(), value: num, eventTime: time, arrivalTime: time,
          tags: fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tagValue, { noNullPrototype: true }),
        }, { requiredKeys: ['deviceId', 'metric', 'value', 'eventTime', 'arrivalTime'], noNullPrototype: true }),
      }, { noNullPrototype: true }),
    );
    fc.assert(fc.property(fc.array(rec, { maxLength: 60 }), (records) => {
      assert.deepEqual(decodeSegment(encodeSegment(records)), records);
    }), { numRuns: 300, seed: 42 });
  });
});
