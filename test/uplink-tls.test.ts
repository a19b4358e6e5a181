/**
 * The uplink over HTTPS: cloud-sync serving TLS with a certificate made for
 * the test (openssl, self-signed for 127.0.0.1). With the certificate as its
 * CA the uplink delivers; without it the handshake is refused and retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { tempDir } from '../edge-runtime/state/test-support.ts';
import { ManualTimer } from '../cloud-sync/clock.ts';
import { startTestCloud } from './support/cloud-harness.ts';
import { commitRows, drainWithRetries, uplinkFor, windowOut } from './support/outbox-fill.ts';

test('HTTPS: delivered with the right CA; refused (and retried) without it', async () => {
  const tmp = tempDir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', tmp.file('key.pem'), '-out', tmp.file('cert.pem'),
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const cert = readFileSync(tmp.file('cert.pem'), 'utf8');
  const cloud = await startTestCloud('sqlite', { tls: { cert, key: readFileSync(tmp.file('key.pem'), 'utf8') } });
  const store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
  const timer = new ManualTimer(1_000_000);
  try {
    assert.match(cloud.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await commitRows(store, Array.from({ length: 10 }, (_, i) => windowOut(i)), 1_000_000);
    const untrusting = uplinkFor(store, cloud, timer);
    const failed = untrusting.waitFor((e) => e.type === 'failed');
    untrusting.start();
    const f = await failed;
    assert.deepEqual(f.type === 'failed' && [f.code, f.status], ['E_UPLINK_NETWORK', null]);
    await untrusting.stop();
    assert.equal((await cloud.storage.counts()).records, 0);

    const trusting = uplinkFor(store, cloud, timer, { cloud: { endpoint: cloud.url, gatewayId: 'gw-a', token: cloud.token, ca: cert } });
    const done = drainWithRetries(trusting, timer);
    trusting.start();
    await done;
    await trusting.stop();
    assert.equal((await cloud.storage.counts()).records, 10);
    assert.equal((await store.outboxStats(0)).rows, 0);
  } finally {
    await store.close();
    await cloud.close();
    tmp.cleanup();
  }
});
