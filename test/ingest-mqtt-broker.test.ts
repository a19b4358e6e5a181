/**
 * The embedded broker with real mqtt.js clients on 127.0.0.1: device
 * authentication against hashed credentials, topic ACLs, MQTT 3.1 / 3.1.1 at
 * QoS 0/1/2 over TCP, TLS and WebSocket, the clear refusal of MQTT 5, and
 * commands to devices (the only traffic the broker forwards).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { memoryLogger } from '../edge-runtime/log.ts';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/credentials-file.ts';
import { DeviceAuthenticator } from '../edge-runtime/ingest/mqtt/device-authenticator.ts';
import { selfSignedCert, startTestGateway, tempDir, until, type TestGateway } from './support/mqtt-ingest-harness.ts';

const T = 1_767_225_600_000;
const payload = (v: number, ts = T): string => JSON.stringify({ ts, temperature: v });
const tmp = tempDir();
const logger = memoryLogger();
const secrets: Record<string, string> = {};
let gw: TestGateway;
let auth: DeviceAuthenticator;
let tlsMaterial: { cert: string; key: string };
const clients: MqttClient[] = [];

before(async () => {
  const file = CredentialsFile.load(tmp.file('credentials.json'), { createIfMissing: true });
  for (const id of ['env-0001', 'env-0002', 'env-0003', 'env-0004', 'vib-0001']) secrets[id] = await file.add(id);
  file.save();
  auth = new DeviceAuthenticator({ credentials: CredentialsFile.load(tmp.file('credentials.json')) });
  tlsMaterial = selfSignedCert(tmp.dir);
  gw = await startTestGateway({
    auth,
    broker: { logger },
    listen: { port: 0, tls: { port: 0, ...tlsMaterial }, ws: { port: 0 } },
  });
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await gw.close();
  tmp.cleanup();
});

async function dev(id: string, o: IClientOptions = {}, url = gw.url): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId: id, username: id, password: secrets[id], reconnectPeriod: 0, protocolVersion: 4, ...o });
  clients.push(c);
  return c;
}

/** The CONNACK code of a refused connection. */
async function refusal(o: IClientOptions, url = gw.url): Promise<{ code: unknown; message: string }> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...o });
    clients.push(c);
    return { code: 'connected', message: '' };
  } catch (e) {
    return { code: (e as { code?: unknown }).code, message: (e as Error).message };
  }
}

async function readingsOf(deviceId: string): Promise<number[]> {
  return (await gw.readings()).filter((r) => r.deviceId === deviceId).map((r) => r.value);
}

describe('embedded broker', () => {
  test('a device with its secret publishes at QoS 0, 1 and 2 over MQTT 3.1.1 and 3.1', async () => {
    const c = await dev('env-0001');
    await c.publishAsync('weir/env-0001/telemetry', payload(1), { qos: 1 });
    await c.publishAsync('weir/env-0001/telemetry', payload(2), { qos: 2 });
    await c.publishAsync('weir/env-0001/telemetry', payload(3), { qos: 0 });
    await until(async () => (await readingsOf('env-0001')).length === 3, 'three readings');
    assert.deepEqual(await readingsOf('env-0001'), [1, 2, 3]);
    const v31 = await dev('env-0002', { protocolId: 'MQIsdp', protocolVersion: 3 });
    await v31.publishAsync('weir/env-0002/telemetry', payload(31), { qos: 1 });
    assert.deepEqual(await readingsOf('env-0002'), [31]);
  });

  test('refusals: wrong or missing credentials, unknown device, borrowed client id', async () => {
    const before = structuredClone(auth.counters.byReason);
    const cases: { name: string; o: IClientOptions; code: number }[] = [
      { name: 'wrong secret', o: { clientId: 'env-0003', username: 'env-0003', password: secrets['env-0001'] }, code: 4 },
      { name: 'unknown device', o: { clientId: 'env-9999', username: 'env-9999', password: 'whatever-secret' }, code: 4 },
      { name: 'no credentials', o: { clientId: 'env-0003' }, code: 5 },
      { name: 'username without password', o: { clientId: 'env-0003', username: 'env-0003' }, code: 5 },
      { name: "another device's client id", o: { clientId: 'env-0001', username: 'env-0003', password: secrets['env-0003'] }, code: 2 },
    ];
    for (const c of cases) {
      const r = await refusal(c.o);
      assert.equal(r.code, c.code, `${c.name}: ${r.message}`);
    }
    assert.match((await refusal(cases[0]!.o)).message, /bad user ?name or password/i);
    assert.match((await refusal(cases[2]!.o)).message, /not authori[sz]ed/i);
    const d = auth.counters.byReason;
    assert.deepEqual(
      [d['bad-secret'] - before['bad-secret'], d['unknown-device'] - before['unknown-device'], d['missing-credentials'] - before['missing-credentials'], d['client-id-mismatch'] - before['client-id-mismatch']],
      [2, 1, 3, 1],
    );
    assert.equal(gw.broker.metrics().broker.clientErrors, 0, 'refusals are counted as auth failures, not protocol errors');
  });

  test('an MQTT 5 device gets CONNACK 132 Unsupported Protocol Version', async () => {
    const before = gw.broker.counters.v5Refused;
    const r = await refusal({ clientId: 'env-0003', username: 'env-0003', password: secrets['env-0003'], protocolVersion: 5 });
    assert.equal(r.code, 132, r.message);
    assert.match(r.message, /Unsupported Protocol Version/);
    assert.equal(gw.broker.counters.v5Refused, before + 1);
  });

  test("a device publishing under another device's topic is quarantined as E_TOPIC_DENIED, acknowledged and counted", async () => {
    const c = await dev('env-0003');
    const q0 = (await gw.quarantined()).length;
    await c.publishAsync('weir/env-0004/telemetry', payload(66), { qos: 1 });
    const q = (await gw.quarantined()).slice(q0);
    assert.deepEqual(q.map((r) => [r.reasonCode, r.deviceId, r.topicOrUri, Buffer.from(r.raw).toString()]), [['E_TOPIC_DENIED', 'env-0003', 'weir/env-0004/telemetry', payload(66)]]);
    assert.deepEqual(await readingsOf('env-0004'), []);
    assert.equal(gw.ingestor.counters.quarantinedByReason.E_TOPIC_DENIED, 1);
  });

  test('subscriptions: only the own command topic; commands reach the device at QoS 0/1/2', async () => {
    const c = await dev('env-0004');
    // mqtt.js reports a partly refused SUBSCRIBE as an error; the return codes are on its SUBACK, in request order.
    const granted = await new Promise<readonly (number | object)[]>((resolve) => c.subscribe(
      { 'weir/env-0004/commands': { qos: 2 }, 'weir/env-0004/telemetry': { qos: 1 }, 'weir/+/commands': { qos: 1 }, '#': { qos: 0 } },
      (_err, _g, suback) => resolve(suback?.granted ?? []),
    ));
    assert.deepEqual(granted, [2, 128, 128, 128]);
    const got: string[] = [];
    c.on('message', (topic, p, packet) => got.push(`${topic} ${p.toString()} q${packet.qos}`));
    for (const qos of [0, 1, 2] as const) await gw.broker.publishCommand('env-0004', `reboot-${qos}`, qos);
    await until(() => got.length === 3, 'three commands');
    assert.deepEqual(got.sort(), ['weir/env-0004/commands reboot-0 q0', 'weir/env-0004/commands reboot-1 q1', 'weir/env-0004/commands reboot-2 q2']);
    assert.equal(gw.broker.metrics().broker.subscriptionsDenied, 3);
  });

  test('publishing to a command topic or a $ topic is quarantined and closes the connection', async () => {
    for (const [id, topic] of [['env-0001', 'weir/env-0004/commands'], ['env-0002', '$SYS/anything']] as const) {
      const c = await dev(id);
      const q0 = (await gw.quarantined()).length;
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(topic, 'x', { qos: 1 });
      await closed;
      const q = (await gw.quarantined()).slice(q0);
      assert.deepEqual(q.map((r) => r.topicOrUri), [topic]);
    }
    assert.equal(gw.broker.metrics().broker.forbiddenPublishes, 2);
  });

  test('retained flags and wills from devices are ignored (and counted)', async () => {
    const before = { ...gw.broker.counters };
    const c = await dev('vib-0001', { will: { topic: 'weir/vib-0001/telemetry', payload: Buffer.from('gone'), qos: 1, retain: true } });
    await c.publishAsync('weir/env-0001/telemetry', payload(5), { qos: 1, retain: true });
    assert.equal(gw.broker.counters.retainIgnored, before.retainIgnored + 1);
    assert.equal(gw.broker.counters.willsIgnored, before.willsIgnored + 1);
  });

  test('TLS with a self-signed certificate, and plain MQTT on the TLS port refused', async () => {
    const c = await dev('env-0001', { ca: tlsMaterial.cert, servername: 'localhost' }, `mqtts://127.0.0.1:${gw.ports.tls}`);
    await c.publishAsync('weir/env-0001/telemetry', payload(44.3), { qos: 1 });
    assert.ok((await readingsOf('env-0001')).includes(44.3));
    const untrusted = await refusal({ clientId: 'env-0002', username: 'env-0002', password: secrets['env-0002'], connectTimeout: 3000 }, `mqtts://127.0.0.1:${gw.ports.tls}`);
    assert.match(String(untrusted.message), /self[- ]signed|certificate/i, 'a client that does not trust the certificate fails the handshake');
    const before = gw.broker.counters.tlsErrors;
    const plain = tcpConnect(gw.ports.tls!, '127.0.0.1');
    plain.on('error', () => {});
    plain.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]));
    await once(plain, 'close');
    await until(() => gw.broker.counters.tlsErrors > before, 'the TLS error to be counted');
  });

  test('MQTT over WebSocket', async () => {
    const c = await dev('env-0003', {}, `ws://127.0.0.1:${gw.ports.ws}/mqtt`);
    await c.publishAsync('weir/env-0003/telemetry', payload(80), { qos: 1 });
    assert.deepEqual(await readingsOf('env-0003'), [80]);
  });

  test('no secret ever reaches the log', () => {
    const text = JSON.stringify(logger.entries);
    assert.ok(logger.entries.some((e) => e.msg === 'mqtt device refused'), 'refusals were logged');
    for (const s of Object.values(secrets)) assert.equal(text.includes(s), false);
    assert.equal(text.includes('whatever-secret'), false);
  });
});
