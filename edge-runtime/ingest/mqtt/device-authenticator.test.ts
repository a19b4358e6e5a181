import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashSecret } from './credentials-file.ts';
import { DeviceAuthenticator, type AuthResult, type CredentialLookup } from './device-authenticator.ts';

const FAST = { N: 16, r: 1, p: 1 };

async function lookup(entries: Record<string, string>): Promise<CredentialLookup & { map: Map<string, string> }> {
  const map = new Map<string, string>();
  for (const [id, secret] of Object.entries(entries)) map.set(id, await hashSecret(secret, FAST));
  return { map, get: (id) => map.get(id) };
}

const pw = (s: string): Uint8Array => Buffer.from(s);

describe('DeviceAuthenticator', () => {
  test('each kind of attempt gets its answer, and is counted', async () => {
    const auth = new DeviceAuthenticator({ credentials: await lookup({ 'env-0001': 'secret-one', 'env-0002': 'secret-two' }) });
    const cases: { name: string; username: string | undefined; password: string | undefined; clientId: string; want: AuthResult }[] = [
      { name: 'right secret', username: 'env-0001', password: 'secret-one', clientId: 'env-0001', want: { ok: true, deviceId: 'env-0001', cached: false } },
      { name: 'again: from the cache', username: 'env-0001', password: 'secret-one', clientId: 'env-0001', want: { ok: true, deviceId: 'env-0001', cached: true } },
      { name: "another device's secret", username: 'env-0001', password: 'secret-two', clientId: 'env-0001', want: { ok: false, reason: 'bad-secret' } },
      { name: 'unknown device', username: 'env-9999', password: 'secret-one', clientId: 'env-9999', want: { ok: false, reason: 'unknown-device' } },
      { name: 'no username', username: undefined, password: 'secret-one', clientId: 'env-0001', want: { ok: false, reason: 'missing-credentials' } },
      { name: 'no password', username: 'env-0001', password: undefined, clientId: 'env-0001', want: { ok: false, reason: 'missing-credentials' } },
      { name: 'empty password', username: 'env-0001', password: '', clientId: 'env-0001', want: { ok: false, reason: 'missing-credentials' } },
      { name: "another device's client id", username: 'env-0001', password: 'secret-one', clientId: 'env-0002', want: { ok: false, reason: 'client-id-mismatch' } },
    ];
    for (const c of cases) {
      const r = await auth.authenticate({ username: c.username, password: c.password === undefined ? undefined : pw(c.password), clientId: c.clientId });
      assert.deepEqual(r, c.want, c.name);
    }
    assert.deepEqual(auth.counters, {
      ok: 2, cached: 1, failed: 6,
      byReason: { 'missing-credentials': 3, 'unknown-device': 1, 'bad-secret': 1, 'client-id-mismatch': 1, busy: 0 },
    });
  });

  test('a rotated secret: the cached old one stops working, the new one works', async () => {
    const creds = await lookup({ d1: 'old-secret' });
    const auth = new DeviceAuthenticator({ credentials: creds });
    assert.equal((await auth.authenticate({ username: 'd1', password: pw('old-secret'), clientId: 'd1' })).ok, true);
    creds.map.set('d1', await hashSecret('new-secret', FAST));
    assert.deepEqual(await auth.authenticate({ username: 'd1', password: pw('old-secret'), clientId: 'd1' }), { ok: false, reason: 'bad-secret' });
    assert.deepEqual(await auth.authenticate({ username: 'd1', password: pw('new-secret'), clientId: 'd1' }), { ok: true, deviceId: 'd1', cached: false });
    creds.map.delete('d1');
    assert.deepEqual(await auth.authenticate({ username: 'd1', password: pw('new-secret'), clientId: 'd1' }), { ok: false, reason: 'unknown-device' });
  });

  test('client ids may differ from device ids when allowed', async () => {
    const auth = new DeviceAuthenticator({ credentials: await lookup({ d1: 'secret-one' }), requireClientIdMatch: false });
    assert.equal((await auth.authenticate({ username: 'd1', password: pw('secret-one'), clientId: 'anything' })).ok, true);
  });

  test('beyond maxQueued waiting verifications, connects are refused as busy', async () => {
    const auth = new DeviceAuthenticator({ credentials: await lookup({ d1: 'secret-one' }), maxConcurrent: 1, maxQueued: 2 });
    const attempts = Array.from({ length: 5 }, () => auth.authenticate({ username: 'd1', password: pw('wrong-secret'), clientId: 'd1' }));
    const results = await Promise.all(attempts);
    assert.deepEqual(results.map((r) => (r.ok ? 'ok' : r.reason)), ['bad-secret', 'bad-secret', 'bad-secret', 'busy', 'busy']);
  });

  test('the cache is bounded, least recently used out', async () => {
    const creds = await lookup({ a: 'secret-aa', b: 'secret-bb', c: 'secret-cc' });
    const auth = new DeviceAuthenticator({ credentials: creds, cacheSize: 2 });
    const go = (id: string): Promise<AuthResult> => auth.authenticate({ username: id, password: pw(`secret-${id}${id}`), clientId: id });
    await go('a');
    await go('b');
    await go('a'); // a is now the most recent
    await go('c'); // evicts b
    assert.deepEqual([(await go('a')), (await go('c')), (await go('b'))].map((r) => r.ok && r.cached), [true, true, false]);
  });
});
