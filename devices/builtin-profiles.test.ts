import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_PROFILES } from './builtin-profiles.ts';
import { deviceIdMatches } from './profile-decode.ts';
import { deviceIdPrefix } from './profile.ts';

test('built-in profiles cover every codec and both transports', () => {
  assert.deepEqual(BUILTIN_PROFILES.map((p) => [p.name, p.transport.kind, p.codec]), [
    ['env-sensor', 'mqtt', 'json'],
    ['vibration', 'mqtt', 'senml-cbor'],
    ['power-meter', 'coap', 'cbor'],
    ['air-quality', 'mqtt', 'senml-json'],
    ['cold-room', 'coap', 'senml-cbor'],
  ]);
});

test('ids the simulator generates match each profile pattern', () => {
  for (const p of BUILTIN_PROFILES) {
    assert.ok(deviceIdMatches(p, `${deviceIdPrefix(p)}-0001`), p.name);
    assert.ok(!deviceIdMatches(p, `${deviceIdPrefix(p)}-x`), p.name);
  }
});
