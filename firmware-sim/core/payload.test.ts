/** Every malformed payload the simulator sends is one the gateway's codec rejects with a DecodeError. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_PROFILES, DecodeError, decodeFrame } from '../../devices/index.ts';
import { MALFORMED_KINDS, encodePayload, malformedPayload } from './payload.ts';
import { Prng } from './prng.ts';

const T0 = 1_767_225_600_000;

for (const profile of BUILTIN_PROFILES) {
  const id = `${profile.deviceIdPrefix}-0001`;
  const readings = Object.keys(profile.metrics).map((metric, i) => ({ metric, value: 10.25 + i, eventTime: T0 }));

  test(`${profile.name}: a well-formed payload decodes to what was sent`, () => {
    const got = decodeFrame(profile, encodePayload(profile, id, readings), { deviceId: id, arrivalTime: T0 + 5 });
    assert.deepEqual(got, readings.map((r) => ({ deviceId: id, ...r })));
  });

  for (const kind of MALFORMED_KINDS) {
    test(`${profile.name}: ${kind} payloads are rejected with the expected code`, () => {
      const want = {
        truncated: profile.codec.endsWith('json') ? 'E_DECODE_JSON' : 'E_DECODE_CBOR',
        garbage: profile.codec.endsWith('json') ? 'E_DECODE_JSON' : 'E_DECODE_CBOR',
        string_value: 'E_DECODE_FIELD',
        nonfinite: 'E_DECODE_NONFINITE',
        empty: 'E_DECODE_SIZE',
      }[kind];
      for (let seed = 0; seed < 200; seed++) {
        const bytes = malformedPayload(profile, id, readings, kind, new Prng(seed));
        assert.throws(() => decodeFrame(profile, bytes, { deviceId: id, arrivalTime: T0 }), (e: unknown) => {
          assert.ok(e instanceof DecodeError, `seed ${seed}: ${String(e)}`);
          assert.equal(e.code, want, `seed ${seed}: ${e.message}`);
          return true;
        });
      }
    });
  }
}
