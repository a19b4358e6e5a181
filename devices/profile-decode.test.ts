import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_PROFILES, builtinProfile } from './builtin-profiles.ts';
import { codecFor } from './codecs/index.ts';
import { DecodeError } from './errors.ts';
import type { DeviceProfile } from './profile.ts';
import { checkReading, decodeFrame, matchMqttTopic } from './profile-decode.ts';

const T0 = 1_767_225_600_000;
const get = (name: string): DeviceProfile => {
  const p = builtinProfile(name);
  assert.ok(p);
  return p;
};

test('MQTT topics resolve to profile and device', () => {
  const cases: [string, string | null, string | null][] = [
    ['weir/env-0007/telemetry', 'env-sensor', 'env-0007'],
    ['weir/vib-0001/vibration', 'vibration', 'vib-0001'],
    ['weir/aq-0002/senml', 'air-quality', 'aq-0002'],
    ['weir/vib-0001/telemetry', null, null], // topic of env-sensor, id of vibration
    ['weir/env-0007/unknown', null, null],
  ];
  for (const [topic, profile, device] of cases) {
    const m = matchMqttTopic(BUILTIN_PROFILES, topic);
    assert.deepEqual(m === null ? [null, null] : [m.profile.name, m.deviceId], [profile, device], topic);
  }
});

test('decodeFrame follows the profile event-time source', () => {
  const env = get('env-sensor');
  const bytes = codecFor('json').encode([{ metric: 'temperature', value: 20.5, eventTime: T0 }], { deviceId: 'env-0001' });
  assert.deepEqual(decodeFrame(env, bytes, { deviceId: 'env-0001', arrivalTime: T0 + 900 }), [
    { deviceId: 'env-0001', metric: 'temperature', value: 20.5, eventTime: T0 },
  ]);
  const arrivalOnly: DeviceProfile = { ...get('air-quality'), eventTime: { source: 'arrival' } };
  const senml = codecFor('senml-json').encode([{ metric: 'co2', value: 640, eventTime: T0 }], { deviceId: 'aq-0001' });
  assert.deepEqual(decodeFrame(arrivalOnly, senml, { deviceId: 'aq-0001', arrivalTime: T0 + 900 }), [
    { deviceId: 'aq-0001', metric: 'co2', value: 640 },
  ]);
});

test('decodeFrame: a flat payload without the profile time field is refused', () => {
  const env = get('env-sensor');
  const bytes = new TextEncoder().encode('{"temperature":20}');
  assert.throws(() => decodeFrame(env, bytes, { deviceId: 'env-0001', arrivalTime: T0 }), (e: unknown) => e instanceof DecodeError && e.code === 'E_DECODE_FIELD' && e.path === 'ts');
});

test('checkReading flags unknown metrics and out-of-range values', () => {
  const env = get('env-sensor');
  assert.equal(checkReading(env, { metric: 'temperature', value: 85 }), null);
  assert.deepEqual(checkReading(env, { metric: 'temperature', value: 85.01 }), { kind: 'out-of-range', metric: 'temperature', value: 85.01, range: [-40, 85] });
  assert.deepEqual(checkReading(env, { metric: 'toString', value: 1 }), { kind: 'unknown-metric', metric: 'toString' });
});
