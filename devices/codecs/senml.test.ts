/** RFC 8428 resolution rules, one table row per rule, for both encodings. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodeContext, DecodedReading } from '../codec.ts';
import { DecodeError } from '../errors.ts';
import { cborBytes } from './cbor-io.ts';
import { SENML_LABELS } from './senml.ts';
import type { SenmlLabel } from './senml.ts';
import { senmlCborCodec } from './senml-cbor-codec.ts';
import { senmlJsonCodec } from './senml-json-codec.ts';

type Rec = Partial<Record<SenmlLabel, unknown>> & Record<string, unknown>;
const T0S = 1_767_225_600; // 2026-01-01T00:00:00Z in seconds
const T0 = T0S * 1000;

const asJson = (pack: Rec[]): Uint8Array => new TextEncoder().encode(JSON.stringify(pack));
const asCbor = (pack: Rec[]): Uint8Array =>
  cborBytes(pack.map((r) => new Map(Object.entries(r).map(([k, v]) => [Object.hasOwn(SENML_LABELS, k) ? SENML_LABELS[k as SenmlLabel] : k, v]))));

interface Row {
  readonly rule: string;
  readonly pack: Rec[];
  readonly ctx: DecodeContext;
  readonly want: DecodedReading[];
}

const ROWS: readonly Row[] = [
  {
    rule: '§4.6 bn + n, bt applies to later records, bu is only a default',
    pack: [
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: T0S, bu: 'Cel', n: 'temp', v: 23.1 },
      { n: 'humidity', u: '%RH', v: 67 },
    ],
    ctx: {},
    want: [
      { deviceId: 'urn:dev:ow:10e2073a01080063', metric: 'temp', value: 23.1, eventTime: T0 },
      { deviceId: 'urn:dev:ow:10e2073a01080063', metric: 'humidity', value: 67, eventTime: T0 },
    ],
  },
  {
    rule: '§4.5.3 bt + t, in seconds, to ms',
    pack: [{ bn: 'd-1:', bt: T0S, n: 'v', v: 1 }, { n: 'v', t: 1.5, v: 2 }, { n: 'v', t: -0.25, v: 3 }],
    ctx: {},
    want: [
      { deviceId: 'd-1', metric: 'v', value: 1, eventTime: T0 },
      { deviceId: 'd-1', metric: 'v', value: 2, eventTime: T0 + 1500 },
      { deviceId: 'd-1', metric: 'v', value: 3, eventTime: T0 - 250 },
    ],
  },
  {
    rule: '§4.5.4 bv + v',
    pack: [{ bn: 'd-1:', bt: T0S, bv: 100, n: 'e', v: 1.5 }, { n: 'e', t: 10, v: 2.5 }],
    ctx: {},
    want: [
      { deviceId: 'd-1', metric: 'e', value: 101.5, eventTime: T0 },
      { deviceId: 'd-1', metric: 'e', value: 102.5, eventTime: T0 + 10_000 },
    ],
  },
  {
    rule: '§4.5.3 times below 2**28 are relative to now (the arrival time)',
    pack: [{ n: 'v', v: 1 }, { n: 'v', t: -5, v: 2 }],
    ctx: { deviceId: 'd-1', arrivalTime: T0 },
    want: [
      { deviceId: 'd-1', metric: 'v', value: 1, eventTime: T0 },
      { deviceId: 'd-1', metric: 'v', value: 2, eventTime: T0 - 5000 },
    ],
  },
  {
    rule: '§4.5.3 relative times without an arrival time give no event time',
    pack: [{ n: 'v', v: 1 }],
    ctx: { deviceId: 'd-1' },
    want: [{ deviceId: 'd-1', metric: 'v', value: 1 }],
  },
  {
    rule: 'a later bn replaces the earlier one; a bare name is a metric of the sending device',
    pack: [{ n: 'a', v: 1, bt: T0S }, { bn: 'd-1/', n: 'b', v: 2 }],
    ctx: { deviceId: 'd-1' },
    want: [
      { deviceId: 'd-1', metric: 'a', value: 1, eventTime: T0 },
      { deviceId: 'd-1', metric: 'b', value: 2, eventTime: T0 },
    ],
  },
  {
    rule: '§4.2 a sum-only record and a base-fields-only record yield no reading; §4.4 unknown plain extensions are ignored',
    pack: [{ bn: 'd-1:', bt: T0S }, { n: 'e', s: 42 }, { n: 'p', v: 7, custom: 'x' }],
    ctx: {},
    want: [{ deviceId: 'd-1', metric: 'p', value: 7, eventTime: T0 }],
  },
  {
    rule: '§4.1 bver 10 is understood',
    pack: [{ bver: 10, bn: 'd-1:', bt: T0S, n: 'p', v: 7 }],
    ctx: {},
    want: [{ deviceId: 'd-1', metric: 'p', value: 7, eventTime: T0 }],
  },
];

const BAD: readonly { rule: string; pack: Rec[]; ctx: DecodeContext; code: string; path: string }[] = [
  { rule: 'name without device and none from transport', pack: [{ n: 'v', v: 1 }], ctx: {}, code: 'E_DECODE_FIELD', path: '[0].n' },
  { rule: '§4.5.1 name must start with a letter or digit', pack: [{ bn: '-d:', n: 'v', v: 1 }], ctx: {}, code: 'E_DECODE_SENML', path: '[0].n' },
  { rule: 'name ending in a separator names no metric', pack: [{ bn: 'd-1:', v: 1 }], ctx: {}, code: 'E_DECODE_FIELD', path: '[0].n' },
  { rule: 'absolute time before the epoch', pack: [{ bn: 'd-1:', bt: -(2 ** 29), n: 'v', v: 1 }], ctx: {}, code: 'E_DECODE_FIELD', path: '[0].t' },
  { rule: 'bver must be a positive integer', pack: [{ bver: 0, n: 'v', v: 1 }], ctx: { deviceId: 'd' }, code: 'E_DECODE_SENML', path: '[0].bver' },
  { rule: 'only sums and base fields: nothing measured', pack: [{ bn: 'd-1:' }, { n: 'e', s: 1 }], ctx: {}, code: 'E_DECODE_SENML', path: '' },
  { rule: '§4.4 must-understand label in the second record', pack: [{ bn: 'd-1:', n: 'v', v: 1 }, { n: 'v', v: 2, ttl_: 5 }], ctx: {}, code: 'E_DECODE_SENML', path: '[1].ttl_' },
  { rule: 'bv + v overflows', pack: [{ bn: 'd-1:', bv: 1.7e308, n: 'v', v: 1.7e308 }], ctx: {}, code: 'E_DECODE_NONFINITE', path: '[0].v' },
];

for (const [label, codec, enc] of [['JSON', senmlJsonCodec, asJson], ['CBOR', senmlCborCodec, asCbor]] as const) {
  describe(`SenML ${label} resolution (RFC 8428)`, () => {
    for (const row of ROWS) {
      test(row.rule, () => assert.deepEqual(codec.decode(enc(row.pack), row.ctx), row.want));
    }
    for (const row of BAD) {
      test(`rejects: ${row.rule}`, () => {
        assert.throws(() => codec.decode(enc(row.pack), row.ctx), (e: unknown) => {
          assert.ok(e instanceof DecodeError);
          assert.deepEqual({ code: e.code, path: e.path }, { code: row.code, path: row.path });
          return true;
        });
      });
    }
  });
}

describe('SenML encoding', () => {
  test('JSON layout: bn/bt on the first record, t relative, units kept', () => {
    const bytes = senmlJsonCodec.encode(
      [
        { metric: 'vibration_rms', value: 2.5, eventTime: T0, unit: 'm/s2' },
        { metric: 'vibration_rms', value: 2.75, eventTime: T0 + 1000, unit: 'm/s2' },
      ],
      { deviceId: 'vib-0001' },
    );
    assert.equal(
      new TextDecoder().decode(bytes),
      `[{"bn":"vib-0001:","bt":${T0S},"n":"vibration_rms","u":"m/s2","v":2.5},{"n":"vibration_rms","u":"m/s2","v":2.75,"t":1}]`,
    );
  });

  test('CBOR uses the integer labels of RFC 8428 §6', () => {
    const bytes = senmlCborCodec.encode([{ metric: 'v', value: 1, eventTime: T0 }], { deviceId: 'd-1' });
    // [ { -2: "d-1:", -3: 1767225600, 0: "v", 2: 1 } ]
    assert.equal(Buffer.from(bytes).toString('hex'), '81a4' + '21' + '6464 2d 31 3a'.replace(/ /g, '') + '22' + '1a6955b900' + '00' + '6176' + '02' + '01');
  });
});
