/**
 * The simulated CoAP device against a real observer (node-coap-client) on
 * 127.0.0.1: notifications arrive, confirmable ones are acknowledged, and
 * observers that go away are removed — by RST, or by the unacknowledged
 * confirmable probe when the client vanished without a word (the `coap` 1.5
 * defect this server works around).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { CoapClient } from 'node-coap-client';
import type { CoapResponse } from 'node-coap-client';
import { CoapDeviceServer } from './coap-device-server.ts';

let clock = 0;
const servers: CoapDeviceServer[] = [];

async function device(confirmable: boolean): Promise<CoapDeviceServer> {
  const s = new CoapDeviceServer({
    deviceId: 'pwr-0001',
    resource: '/sensors/power',
    contentFormat: 60,
    confirmable,
    policy: { confirmEveryMs: 1000, ackTimeoutMs: 5000, maxObservers: 4 },
    now: () => clock,
    firstMessageId: 100,
  });
  await s.listen();
  servers.push(s);
  return s;
}

/** Observes `url`; resolves the returned waiter when `n` notifications have arrived. */
function observe(url: string): { got: Buffer[]; until: (n: number) => Promise<void> } {
  const got: Buffer[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  void CoapClient.observe(url, 'get', (resp: CoapResponse) => {
    got.push(resp.payload ?? Buffer.alloc(0));
    for (const w of waiters.filter((x) => got.length >= x.n)) w.resolve();
  });
  return {
    got,
    until: (n) => (got.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

afterEach(async () => {
  CoapClient.reset();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  clock = 0;
});

describe('CoAP device server', () => {
  test('an observer receives the current representation and every notification', async () => {
    const s = await device(false);
    s.publish(Buffer.from('a'));
    const obs = observe(s.url);
    await once(s.events, 'observe');
    await obs.until(1);
    s.publish(Buffer.from('b'));
    s.publish(Buffer.from('c'));
    await obs.until(3);
    assert.deepEqual(obs.got.map(String), ['a', 'b', 'c']);
    assert.equal(s.observerCount, 1);
  });

  test('confirmable notifications are acknowledged by the observer', async () => {
    const s = await device(true);
    s.publish(Buffer.from('a'));
    const obs = observe(s.url);
    await obs.until(1);
    const acked = once(s.events, 'ack');
    s.publish(Buffer.from('b'));
    const [mid] = await acked;
    assert.equal(mid, 100); // the first notification after the response uses the first seeded ID
    await obs.until(2);
    clock = 60_000;
    s.expire();
    assert.equal(s.observerCount, 1, 'an acknowledging observer must not expire');
  });

  test('an observer that stops observing answers the next notification with RST and is removed', async () => {
    const s = await device(false);
    s.publish(Buffer.from('a'));
    const obs = observe(s.url);
    await obs.until(1);
    CoapClient.stopObserving(s.url);
    const reset = once(s.events, 'reset');
    s.publish(Buffer.from('b'));
    await reset;
    assert.equal(s.observerCount, 0);
    assert.equal(s.stats.observersExpired, 1);
  });

  test('an observer that vanished is removed after its confirmable probe goes unacknowledged', async () => {
    const s = await device(false);
    s.publish(Buffer.from('a'));
    const obs = observe(s.url);
    await obs.until(1);
    CoapClient.reset(); // the client's socket is gone; it will never ACK or RST
    clock = 1000;
    s.publish(Buffer.from('b')); // confirmEveryMs reached: sent confirmable
    clock = 5999;
    s.expire();
    assert.equal(s.observerCount, 1, 'removed before the ack timeout');
    clock = 6000;
    const expired = once(s.events, 'expired');
    s.expire();
    await expired;
    assert.equal(s.observerCount, 0);
    const sent = s.stats.notifications;
    s.publish(Buffer.from('c'));
    assert.equal(s.stats.notifications, sent, 'no notification is sent to a removed observer');
  });

  test('plain GET gets the representation; unknown paths and methods are refused', async () => {
    const s = await device(false);
    s.publish(Buffer.from([0xa1, 0x61, 0x70, 0x01]));
    const ok = await CoapClient.request(s.url, 'get');
    assert.equal(ok.code.toString(), '2.05');
    assert.deepEqual([...(ok.payload ?? [])], [0xa1, 0x61, 0x70, 0x01]);
    const missing = await CoapClient.request(s.url.replace('/sensors/power', '/nope'), 'get');
    assert.equal(missing.code.toString(), '4.04');
    const post = await CoapClient.request(s.url, 'post', Buffer.from('x'));
    assert.equal(post.code.toString(), '4.05');
  });
});
