import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinProfile, validateProfile } from '../../../devices/index.ts';
import type { DeviceProfile } from '../../../devices/index.ts';
import { resolvePsk } from './coap-credentials.ts';
import type { SecretSources } from './coap-credentials.ts';

const cold = builtinProfile('cold-room') as DeviceProfile;
const withSecret = (secret: string, identity?: string): DeviceProfile =>
  validateProfile({ ...cold, credentials: identity === undefined ? { secret } : { secret, identity } }, 'test');
const sources: SecretSources = {
  env: { WEIR_SIM_PSK: 'k-env', EMPTY: '' },
  readFile: (p) => {
    if (p === '/keys/cold') return 'k-file\n';
    throw new Error(`ENOENT ${p}`);
  },
};

test('PSK identity and key from the profile\'s credentials reference', () => {
  const ok: [DeviceProfile, string, string][] = [
    [cold, 'cold-0001', 'k-env'],
    [withSecret('file:/keys/cold'), 'cold-0001', 'k-file'],
    [withSecret('env:WEIR_SIM_PSK', 'gw/{deviceId}'), 'gw/cold-0001', 'k-env'],
  ];
  for (const [p, identity, key] of ok) assert.deepEqual(resolvePsk(p, 'cold-0001', sources), { identity, key });
});

test('an unresolvable reference is E_COAP_CREDENTIALS and names the reference, never a key', () => {
  const bad: [DeviceProfile, RegExp][] = [
    [withSecret('env:NOPE'), /env:NOPE is empty or not set/],
    [withSecret('env:EMPTY'), /env:EMPTY is empty or not set/],
    [withSecret('file:/keys/missing'), /credentials file \/keys\/missing cannot be read/],
  ];
  for (const [p, msg] of bad) {
    assert.throws(() => resolvePsk(p, 'cold-0001', sources), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_COAP_CREDENTIALS');
      assert.match(e.message, msg);
      assert.ok(!e.message.includes('k-env') && !e.message.includes('k-file'));
      return true;
    });
  }
  const { credentials: _, ...noCreds } = cold;
  assert.throws(() => resolvePsk(noCreds as DeviceProfile, 'cold-0001', sources), { code: 'E_COAP_CREDENTIALS' });
});
