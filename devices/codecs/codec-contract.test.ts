/**
 * One contract, run against every codec (STYLE.md habit 7): round trips are
 * exact, and bad bytes of every kind end in a DecodeError with the expected
 * code — never another exception type.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode as cborEncodeRaw } from 'cbor-x';
import type { Codec, DecodeContext, DecodedReading, OutReading } from '../codec.ts';
import { DecodeError } from '../errors.ts';
import type { DecodeErrorCode } from '../errors.ts';
import { CODECS } from './index.ts';
import { cborBytes } from './cbor-io.ts';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Case {
  readonly what: string;
  readonly bytes: Uint8Array;
  readonly code: DecodeErrorCode;
}

interface Spec {
  readonly codec: Codec;
  /** Decode context that reads back what `encode` wrote for device d-0001. */
  readonly ctx: DecodeContext;
  readonly syntaxCode: 'E_DECODE_JSON' | 'E_DECODE_CBOR';
  /** Encodes an arbitrary data value in this codec's syntax. */
  readonly raw: (v: unknown) => Uint8Array;
  readonly bad: readonly Case[];
}

const ctxFlat: DecodeContext = { deviceId: 'd-0001', timeField: 'ts' };
const ctxSenml: DecodeContext = { deviceId: 'd-0001' };
const jsonRaw = (v: unknown): Uint8Array => text(JSON.stringify(v));
const cborRaw = (v: unknown): Uint8Array => cborBytes(v);
const senmlCbor = (recs: Record<number, unknown>[]): Uint8Array => cborBytes(recs.map((r) => new Map(Object.entries(r).map(([k, v]) => [Number(k), v]))));

const SPECS: readonly Spec[] = [
  {
    codec: CODECS.json, ctx: ctxFlat, syntaxCode: 'E_DECODE_JSON', raw: jsonRaw,
    bad: [
      { what: 'string value', bytes: jsonRaw({ ts: T0, temperature: '21.3' }), code: 'E_DECODE_FIELD' },
      { what: 'null value', bytes: jsonRaw({ ts: T0, temperature: null }), code: 'E_DECODE_FIELD' },
      { what: 'missing time field', bytes: jsonRaw({ temperature: 21.3 }), code: 'E_DECODE_FIELD' },
      { what: 'no metrics', bytes: jsonRaw({ ts: T0 }), code: 'E_DECODE_FIELD' },
      { what: 'top-level number', bytes: jsonRaw(42), code: 'E_DECODE_FIELD' },
      { what: 'empty array', bytes: jsonRaw([]), code: 'E_DECODE_FIELD' },
      { what: 'other device', bytes: jsonRaw({ deviceId: 'd-0002', ts: T0, temperature: 1 }), code: 'E_DECODE_FIELD' },
      { what: 'overflowing number', bytes: text(`{"ts":${T0},"temperature":1e999}`), code: 'E_DECODE_NONFINITE' },
      { what: 'invalid UTF-8', bytes: Uint8Array.of(0x7b, 0xff, 0x7d), code: 'E_DECODE_JSON' },
    ],
  },
  {
    codec: CODECS.cbor, ctx: ctxFlat, syntaxCode: 'E_DECODE_CBOR', raw: cborRaw,
    bad: [
      { what: 'string value', bytes: cborRaw({ ts: T0, temperature: '21.3' }), code: 'E_DECODE_FIELD' },
      { what: 'integer map key', bytes: cborRaw(new Map<unknown, unknown>([['ts', T0], [7, 1]])), code: 'E_DECODE_FIELD' },
      { what: 'missing time field', bytes: cborRaw({ temperature: 21.3 }), code: 'E_DECODE_FIELD' },
      { what: 'byte string', bytes: cborRaw(Uint8Array.of(1, 2)), code: 'E_DECODE_FIELD' },
      { what: 'NaN value', bytes: cborRaw({ ts: T0, temperature: NaN }), code: 'E_DECODE_NONFINITE' },
      { what: 'Infinity time', bytes: cborRaw({ ts: Infinity, temperature: 1 }), code: 'E_DECODE_NONFINITE' },
      { what: 'trailing bytes', bytes: Uint8Array.of(...cborRaw({ ts: T0, temperature: 1 }), 0x00), code: 'E_DECODE_CBOR' },
      { what: 'date tag as value', bytes: Uint8Array.from(cborEncodeRaw({ ts: T0, temperature: new Date(T0) })), code: 'E_DECODE_FIELD' },
    ],
  },
  {
    codec: CODECS['senml-json'], ctx: ctxSenml, syntaxCode: 'E_DECODE_JSON', raw: jsonRaw,
    bad: [
      { what: 'not an array', bytes: jsonRaw({ n: 'x', v: 1 }), code: 'E_DECODE_SENML' },
      { what: 'record not a map', bytes: jsonRaw([1]), code: 'E_DECODE_SENML' },
      { what: 'string v', bytes: jsonRaw([{ n: 'temperature', v: '1' }]), code: 'E_DECODE_FIELD' },
      { what: 'string value vs', bytes: jsonRaw([{ n: 'temperature', vs: 'hot' }]), code: 'E_DECODE_FIELD' },
      { what: 'must-understand field', bytes: jsonRaw([{ n: 'temperature', v: 1, foo_: 1 }]), code: 'E_DECODE_SENML' },
      { what: 'future version', bytes: jsonRaw([{ bver: 11, n: 'temperature', v: 1 }]), code: 'E_DECODE_SENML' },
      { what: 'bad name character', bytes: jsonRaw([{ n: 'temp erature', v: 1 }]), code: 'E_DECODE_SENML' },
      { what: 'no value', bytes: jsonRaw([{ n: 'temperature' }]), code: 'E_DECODE_SENML' },
      { what: 'other device in bn', bytes: jsonRaw([{ bn: 'd-0002:', n: 'temperature', v: 1 }]), code: 'E_DECODE_FIELD' },
      { what: 'overflowing value', bytes: text('[{"n":"temperature","v":-1e999}]'), code: 'E_DECODE_NONFINITE' },
    ],
  },
  {
    codec: CODECS['senml-cbor'], ctx: ctxSenml, syntaxCode: 'E_DECODE_CBOR', raw: cborRaw,
    bad: [
      { what: 'not an array', bytes: senmlCbor([{ 0: 'x', 2: 1 }]).subarray(1), code: 'E_DECODE_SENML' },
      { what: 'text labels are extensions, so no value', bytes: cborRaw([{ n: 'temperature', v: 1 }]), code: 'E_DECODE_SENML' },
      { what: 'string v', bytes: senmlCbor([{ 0: 'temperature', 2: '1' }]), code: 'E_DECODE_FIELD' },
      { what: 'boolean value vb', bytes: senmlCbor([{ 0: 'temperature', 4: true }]), code: 'E_DECODE_FIELD' },
      { what: 'NaN value', bytes: senmlCbor([{ 0: 'temperature', 2: NaN }]), code: 'E_DECODE_NONFINITE' },
      { what: 'Infinity base time', bytes: senmlCbor([{ [-3]: Infinity, 0: 'temperature', 2: 1 }]), code: 'E_DECODE_NONFINITE' },
      { what: 'future version', bytes: senmlCbor([{ [-1]: 11, 0: 'temperature', 2: 1 }]), code: 'E_DECODE_SENML' },
      { what: 'empty pack', bytes: cborRaw([]), code: 'E_DECODE_SENML' },
    ],
  },
];

function expectDecodeError(codec: Codec, bytes: Uint8Array, ctx: DecodeContext, code: DecodeErrorCode): void {
  assert.throws(() => codec.decode(bytes, ctx), (e: unknown) => {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Readings with unique (metric, time) pairs, in an order every codec preserves (grouped by time). */
const readingsArb = fc
  .uniqueArray(
    fc.record({
      metric: fc.constantFrom('temperature', 'humidity', 'pressure', 'vibration_rms', 'power'),
      value: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }).map((v) => (v === 0 ? 0 : v)),
      eventTime: fc.integer({ min: T0 - 86_400_000, max: T0 + 86_400_000 }),
    }),
    { minLength: 1, maxLength: 20, selector: (r) => `${r.metric}@${r.eventTime}` },
  )
  .map((rs) => {
    const order = [...new Set(rs.map((r) => r.eventTime))];
    return [...rs].sort((a, b) => order.indexOf(a.eventTime) - order.indexOf(b.eventTime));
  });

for (const spec of SPECS) {
  const { codec, ctx } = spec;
  describe(`codec contract: ${codec.name}`, () => {
    test('round trip of one sample', () => {
      const readings: OutReading[] = [
        { metric: 'temperature', value: 21.37, eventTime: T0, unit: 'Cel' },
        { metric: 'humidity', value: 40.1, eventTime: T0, unit: '%RH' },
        { metric: 'pressure', value: 101325, eventTime: T0, unit: 'Pa' },
      ];
      const expected: DecodedReading[] = readings.map(({ metric, value }) => ({ deviceId: 'd-0001', metric, value, eventTime: T0 }));
      assert.deepEqual(codec.decode(codec.encode(readings, { deviceId: 'd-0001' }), ctx), expected);
    });

    test('round trip of a buffered batch with distinct times', () => {
      const readings: OutReading[] = [0, 1, 2].map((i) => ({ metric: 'temperature', value: 20 + i / 4, eventTime: T0 + i * 5000 }));
      const expected = readings.map(({ metric, value, eventTime }) => ({ deviceId: 'd-0001', metric, value, eventTime }));
      assert.deepEqual(codec.decode(codec.encode(readings, { deviceId: 'd-0001' }), ctx), expected);
    });

    test('round trip holds for any finite readings (property)', () => {
      fc.assert(
        fc.property(readingsArb, (readings) => {
          const got = codec.decode(codec.encode(readings, { deviceId: 'd-0001' }), ctx);
          assert.deepEqual(got, readings.map((r) => ({ deviceId: 'd-0001', ...r })));
        }),
        { numRuns: 200 },
      );
    });

    test('negative zero is sent as 0 (JSON cannot carry -0, so no codec does)', () => {
      const [r] = codec.decode(codec.encode([{ metric: 'temperature', value: -0, eventTime: T0 }], { deviceId: 'd-0001' }), ctx);
      assert.ok(Object.is(r.value, 0));
    });

    test('media type and content format are declared', () => {
      assert.match(codec.mediaType, /^application\//);
      assert.equal(typeof codec.contentFormat, 'number');
    });

    const generic: Case[] = [
      { what: 'empty payload', bytes: new Uint8Array(0), code: 'E_DECODE_SIZE' },
      { what: 'oversized payload', bytes: spec.raw([{ ts: T0, x: 'y'.repeat(70_000) }]), code: 'E_DECODE_SIZE' },
      { what: 'garbage bytes', bytes: Uint8Array.of(0xff, 0xfe, 0x00, 0x13), code: spec.syntaxCode },
      { what: 'truncated payload', bytes: codec.encode([{ metric: 'temperature', value: 21.5, eventTime: T0 }], { deviceId: 'd-0001' }).subarray(0, 6), code: spec.syntaxCode },
    ];
    for (const c of [...generic, ...spec.bad]) {
      test(`bad payload → ${c.code}: ${c.what}`, () => expectDecodeError(codec, c.bytes, ctx, c.code));
    }

    test('any bytes: readings or a DecodeError, never another exception (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          try {
            const out = codec.decode(bytes, ctx);
            assert.ok(Array.isArray(out) && out.length > 0);
          } catch (e) {
            assert.ok(e instanceof DecodeError, `non-DecodeError: ${String(e)}`);
          }
        }),
        { numRuns: 2000 },
      );
    });

    test('any well-formed data value: readings or a DecodeError (property)', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (v) => {
          try {
            for (const r of codec.decode(spec.raw(v), ctx)) assert.ok(Number.isFinite(r.value));
          } catch (e) {
            assert.ok(e instanceof DecodeError, `non-DecodeError: ${String(e)}`);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
}
