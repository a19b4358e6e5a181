import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_PROFILES } from '../../../devices/index.ts';
import { resolveCoapTargets } from './coap-device-config.ts';
import type { CoapDeviceEntry } from './coap-device-config.ts';

test('device entries resolve to targets: profile by id pattern, scheme by DTLS, default ports', () => {
  const got = resolveCoapTargets([
    { deviceId: 'pwr-0001', endpoint: '10.0.0.7:5690' },
    { deviceId: 'pwr-0002', endpoint: 'Meter-2.local' },
    { deviceId: 'cold-0001', endpoint: '10.0.0.9' },
    { deviceId: 'cold-0002', endpoint: '[FE80::1]:6000', mode: 'poll', pollIntervalMs: 2500 },
  ], BUILTIN_PROFILES);
  assert.deepEqual(got.map((t) => [t.deviceId, t.profile.name, t.uri, t.origin, t.secure, t.mode, t.pollIntervalMs]), [
    ['pwr-0001', 'power-meter', 'coap://10.0.0.7:5690/sensors/power', 'coap://10.0.0.7:5690', false, 'observe', 5000],
    ['pwr-0002', 'power-meter', 'coap://meter-2.local:5683/sensors/power', 'coap://meter-2.local:5683', false, 'observe', 5000],
    ['cold-0001', 'cold-room', 'coaps://10.0.0.9:5684/sensors/cold', 'coaps://10.0.0.9:5684', true, 'observe', 10000],
    ['cold-0002', 'cold-room', 'coaps://[fe80::1]:6000/sensors/cold', 'coaps://[fe80::1]:6000', true, 'poll', 2500],
  ]);
});

test('a bad entry is a ConfigError naming the field', () => {
  const cases: [CoapDeviceEntry[], string, RegExp][] = [
    [[{ deviceId: '', endpoint: 'h' }], 'coap.devices[0].deviceId', /required/],
    [[{ deviceId: 'pwr-0001', endpoint: 'a:1' }, { deviceId: 'pwr-0001', endpoint: 'b:1' }], 'coap.devices[1].deviceId', /listed twice/],
    [[{ deviceId: 'env-0001', endpoint: 'h' }], 'coap.devices[0].profile', /no CoAP profile matches device env-0001/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h', profile: 'env-sensor' }], 'coap.devices[0].profile', /no CoAP profile named env-sensor/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h', profile: 'cold-room' }], 'coap.devices[0].deviceId', /does not match profile cold-room/],
    [[{ deviceId: 'pwr-0001', endpoint: 'coap://h:1' }], 'coap.devices[0].endpoint', /is not host:port/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h:70000' }], 'coap.devices[0].endpoint', /port 70000 is out of range/],
    [[{ deviceId: 'pwr-0001', endpoint: '[zz::1]:1' }], 'coap.devices[0].endpoint', /is not host:port|not an IPv6/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h:1' }, { deviceId: 'pwr-0002', endpoint: 'H:1' }], 'coap.devices[1].endpoint', /already the endpoint of pwr-0001/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h', pollIntervalMs: 0 }], 'coap.devices[0].pollIntervalMs', /at least 10 ms/],
    [[{ deviceId: 'pwr-0001', endpoint: 'h', mode: 'push' as 'poll' }], 'coap.devices[0].mode', /observe or poll/],
  ];
  for (const [entries, field, msg] of cases) {
    assert.throws(() => resolveCoapTargets(entries, BUILTIN_PROFILES), (e: Error & { code?: string; field?: string }) => {
      assert.equal(e.code, 'E_CONFIG');
      assert.equal(e.field, field);
      assert.match(e.message, msg);
      return true;
    }, field);
  }
});
