import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProfileError } from './errors.ts';
import { validateProfile, validateProfiles } from './profile-validate.ts';

const valid = (): Record<string, unknown> => ({
  name: 'env-sensor',
  deviceIdPattern: '^env-[0-9]{4}$',
  transport: { kind: 'mqtt', topic: 'weir/{deviceId}/telemetry' },
  codec: 'json',
  samplingIntervalMs: 5000,
  eventTime: { source: 'payload', field: 'ts' },
  metrics: {
    temperature: { unit: 'Cel', range: [-40, 85], signal: { base: 21, noise: 0.1 } },
  },
});

type Mutate = (p: Record<string, unknown>) => void;
const metric = (p: Record<string, unknown>): Record<string, unknown> =>
  (p.metrics as Record<string, Record<string, unknown>>).temperature;

const BAD: readonly [string, Mutate, string][] = [
  ['range min above max', (p) => { metric(p).range = [85, -40]; }, 'profiles[2].metrics.temperature.range'],
  ['range not a pair', (p) => { metric(p).range = [1]; }, 'profiles[2].metrics.temperature.range'],
  ['range bound not a number', (p) => { metric(p).range = [0, '9']; }, 'profiles[2].metrics.temperature.range[1]'],
  ['signal base outside range', (p) => { metric(p).signal = { base: 90 }; }, 'profiles[2].metrics.temperature.signal.base'],
  ['counter without rate', (p) => { metric(p).signal = { kind: 'counter', base: 0 }; }, 'profiles[2].metrics.temperature.signal.ratePerHour'],
  ['negative noise', (p) => { metric(p).signal = { base: 1, noise: -1 }; }, 'profiles[2].metrics.temperature.signal.noise'],
  ['typo in a metric field', (p) => { metric(p).units = 'Cel'; }, 'profiles[2].metrics.temperature.units'],
  ['bad metric name', (p) => { p.metrics = { Temp: metric(p) }; }, 'profiles[2].metrics.Temp'],
  ['no metrics', (p) => { p.metrics = {}; }, 'profiles[2].metrics'],
  ['metric named like the time field', (p) => { p.metrics = { ts: metric(p) }; }, 'profiles[2].metrics.ts'],
  ['name not kebab-case', (p) => { p.name = 'Env_Sensor'; }, 'profiles[2].name'],
  ['invalid id pattern', (p) => { p.deviceIdPattern = '(['; }, 'profiles[2].deviceIdPattern'],
  ['unknown codec', (p) => { p.codec = 'xml'; }, 'profiles[2].codec'],
  ['interval zero', (p) => { p.samplingIntervalMs = 0; }, 'profiles[2].samplingIntervalMs'],
  ['interval fractional', (p) => { p.samplingIntervalMs = 1.5; }, 'profiles[2].samplingIntervalMs'],
  ['topic without placeholder', (p) => { p.transport = { kind: 'mqtt', topic: 'weir/telemetry' }; }, 'profiles[2].transport.topic'],
  ['topic with wildcard', (p) => { p.transport = { kind: 'mqtt', topic: 'weir/+/{deviceId}' }; }, 'profiles[2].transport.topic'],
  ['placeholder inside a level', (p) => { p.transport = { kind: 'mqtt', topic: 'weir/dev-{deviceId}' }; }, 'profiles[2].transport.topic'],
  ['qos 2', (p) => { p.transport = { kind: 'mqtt', topic: 'w/{deviceId}', qos: 2 }; }, 'profiles[2].transport.qos'],
  ['unknown transport', (p) => { p.transport = { kind: 'http' }; }, 'profiles[2].transport.kind'],
  ['coap resource not absolute', (p) => { p.transport = { kind: 'coap', resource: 'sensors' }; }, 'profiles[2].transport.resource'],
  ['dtls without credentials', (p) => { p.transport = { kind: 'coap', resource: '/s', dtls: true }; }, 'profiles[2].credentials'],
  ['senml time with a flat codec', (p) => { p.eventTime = { source: 'senml' }; }, 'profiles[2].eventTime.source'],
  ['payload time with a senml codec', (p) => { p.codec = 'senml-json'; }, 'profiles[2].eventTime.source'],
  ['unknown time source', (p) => { p.eventTime = { source: 'gps' }; }, 'profiles[2].eventTime.source'],
  ['secret given inline', (p) => { p.credentials = { secret: 'hunter2' }; }, 'profiles[2].credentials.secret'],
  ['unknown top-level field', (p) => { p.sampleRate = 1; }, 'profiles[2].sampleRate'],
];

describe('profile validation', () => {
  for (const [what, mutate, field] of BAD) {
    test(`names the field: ${what}`, () => {
      const bad = valid();
      mutate(bad);
      const list = [{ ...valid(), name: 'a' }, { ...valid(), name: 'b' }, bad];
      assert.throws(() => validateProfiles(list), (e: unknown) => {
        assert.ok(e instanceof ProfileError);
        assert.equal(e.code, 'E_PROFILE');
        assert.equal(e.field, field, e.message);
        return true;
      });
    });
  }

  test('a valid profile comes back as equal plain data', () => {
    assert.deepEqual(validateProfile(valid()), valid());
  });

  test('duplicate names are refused with both positions', () => {
    assert.throws(() => validateProfiles({ profiles: [valid(), valid()] }), (e: unknown) => {
      assert.ok(e instanceof ProfileError);
      assert.equal(e.field, 'profiles[1].name');
      assert.match(e.message, /profiles\[0\]\.name/);
      return true;
    });
  });

  test('the root must be a list or { profiles }', () => {
    assert.throws(() => validateProfiles({ other: [] }), (e: unknown) => e instanceof ProfileError && e.field === '(root).other');
    assert.throws(() => validateProfiles('x'), (e: unknown) => e instanceof ProfileError && e.field === 'profiles');
  });
});
