/**
 * Hundreds of generated bad payloads through the embedded broker, from
 * authenticated devices at QoS 1, while other devices keep publishing good
 * readings: every bad one lands in quarantine with the right reason and its
 * raw bytes, every good one in the log; misbehaving connections (non-MQTT
 * bytes, a 200 MB packet, a broken length) are closed without disturbing
 * anyone else. The generator is seeded: the same run every time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/credentials-file.ts';
import { DeviceAuthenticator } from '../edge-runtime/ingest/mqtt/device-authenticator.ts';
import type { QuarantineReason } from '../edge-runtime/ingest/ingestor.ts';
import { rng } from '../edge-runtime/state/test-support.ts';
import { RawClient, connectPacket, publishPacket } from './support/raw-mqtt.ts';
import { startTestGateway, tempDir, until, type TestGateway } from './support/mqtt-ingest-harness.ts';

const T = 1_767_225_600_000;
const MAX_PAYLOAD = 64 * 1024;
const tmp = tempDir();
const secrets: Record<string, string> = {};
let gw: TestGateway;
const clients: MqttClient[] = [];

before(async () => {
  const file = CredentialsFile.load(tmp.file('credentials.json'), { createIfMissing: true });
  for (const id of ['env-0001', 'vib-0001', 'aq-0001', 'env-0011', 'env-0012', 'env-0013', 'env-0014']) secrets[id] = await file.add(id);
  file.save();
  gw = await startTestGateway({ auth: new DeviceAuthenticator({ credentials: file }), maxPayloadBytes: MAX_PAYLOAD, broker: { maxPacketBytes: 256 * 1024 } });
});
after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await gw.close();
  tmp.cleanup();
});

async function dev(id: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(gw.url, { clientId: id, username: id, password: secrets[id], reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

interface Bad {
  readonly device: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly reason: QuarantineReason;
}

const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const VIB_GOOD = Buffer.from('81a421697669622d303030313a221a6955b900006d766962726174696f6e5f726d7302fb4004000000000000', 'hex');

/** One bad payload of each kind per call, varied by the PRNG. */
function generate(r: () => number, i: number): Bad[] {
  const int = (n: number): number => Math.floor(r() * n);
  const ts = T + i * 1000;
  const env = 'weir/env-0001/telemetry';
  const good = JSON.stringify({ ts, temperature: 20 + int(100) / 10, humidity: 40 });
  const noise = Buffer.from(Array.from({ length: 1 + int(40) }, () => 0x80 + int(0x7f)));
  const vibNaN = Buffer.from(VIB_GOOD);
  vibNaN.writeDoubleBE([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][int(3)]!, VIB_GOOD.length - 8);
  return [
    { device: 'env-0001', topic: env, payload: Buffer.from(good.slice(0, 1 + int(good.length - 1))), reason: 'E_DECODE_JSON' },
    { device: 'env-0001', topic: env, payload: noise, reason: 'E_DECODE_JSON' },
    { device: 'env-0001', topic: env, payload: json({ ts, temperature: String(20 + int(10)) }), reason: 'E_DECODE_FIELD' },
    { device: 'env-0001', topic: env, payload: json({ temperature: 21 }), reason: 'E_DECODE_FIELD' },
    { device: 'env-0001', topic: env, payload: Buffer.from(`{"ts":${ts},"temperature":${int(2) === 0 ? '' : '-'}1e${400 + int(100)}}`), reason: 'E_DECODE_NONFINITE' },
    { device: 'env-0001', topic: env, payload: json({ ts, temperature: 85.01 + int(1000) }), reason: 'E_OUT_OF_RANGE' },
    { device: 'env-0001', topic: env, payload: json({ ts, humidity: -1 - int(50) }), reason: 'E_OUT_OF_RANGE' },
    { device: 'env-0001', topic: env, payload: json({ ts, voltage: 3.3 }), reason: 'E_UNKNOWN_METRIC' },
    { device: 'env-0001', topic: env, payload: Buffer.alloc(0), reason: 'E_DECODE_SIZE' },
    { device: 'env-0001', topic: 'weir/env-0002/telemetry', payload: Buffer.from(good), reason: 'E_TOPIC_DENIED' },
    { device: 'env-0001', topic: `weir/bogus-${int(100)}/telemetry`, payload: Buffer.from(good), reason: 'E_UNKNOWN_DEVICE' },
    { device: 'env-0001', topic: `some/other/topic/${i}`, payload: Buffer.from(good), reason: 'E_UNKNOWN_DEVICE' },
    { device: 'vib-0001', topic: 'weir/vib-0001/vibration', payload: VIB_GOOD.subarray(0, 1 + int(VIB_GOOD.length - 2)), reason: 'E_DECODE_CBOR' },
    { device: 'vib-0001', topic: 'weir/vib-0001/vibration', payload: vibNaN, reason: 'E_DECODE_NONFINITE' },
    { device: 'vib-0001', topic: 'weir/vib-0001/vibration', payload: Buffer.from([int(24)]), reason: 'E_DECODE_SENML' },
    { device: 'aq-0001', topic: 'weir/aq-0001/senml', payload: json([{ bn: 'aq-0001:', bt: ts / 1000, n: 'co2', v: 600, bver: 11 + int(5) }]), reason: 'E_DECODE_SENML' },
    { device: 'aq-0001', topic: 'weir/aq-0001/senml', payload: json([{ bn: 'aq-0001:', bt: ts / 1000, n: 'co2' }]), reason: 'E_DECODE_SENML' },
    { device: 'aq-0001', topic: 'weir/aq-0001/senml', payload: json([{ bn: 'aq-0001:', bt: ts / 1000, n: 'co2', vs: 'high' }]), reason: 'E_DECODE_FIELD' },
    { device: 'aq-0001', topic: 'weir/aq-0001/senml', payload: json([{ bn: 'aq-0002:', bt: ts / 1000, n: 'co2', v: 600 }]), reason: 'E_DECODE_FIELD' },
  ];
}

describe('bad input through MQTT', () => {
  test('every bad payload is quarantined with its reason; good devices keep flowing', async () => {
    const r = rng(2026);
    const bad: Bad[] = [];
    for (let i = 0; i < 20; i++) bad.push(...generate(r, i));
    // Oversized: above the Ingestor's 64 KiB, below the broker's 256 KiB packet limit.
    for (let i = 0; i < 3; i++) bad.push({ device: 'env-0001', topic: 'weir/env-0001/telemetry', payload: Buffer.from(`{"ts":${T},"temperature":20}${' '.repeat(MAX_PAYLOAD + i * 10_000)}`), reason: 'E_DECODE_SIZE' });
    assert.ok(bad.length >= 380, `${bad.length} bad payloads`);

    const badClients = new Map<string, MqttClient>();
    for (const id of ['env-0001', 'vib-0001', 'aq-0001']) badClients.set(id, await dev(id));
    const goodIds = ['env-0011', 'env-0012', 'env-0013', 'env-0014'];
    const good = await Promise.all(goodIds.map((id) => dev(id)));
    const GOOD_EACH = 60;
    const goodSent = good.map(async (c, k) => {
      for (let i = 0; i < GOOD_EACH; i++) await c.publishAsync(`weir/${goodIds[k]}/telemetry`, JSON.stringify({ ts: T + i, temperature: 20 + k + i / 100 }), { qos: 1 });
    });
    const badSent = [...badClients.entries()].map(async ([id, c]) => {
      for (const b of bad.filter((x) => x.device === id)) await c.publishAsync(b.topic, b.payload, { qos: 1 });
    });
    await Promise.all([...goodSent, ...badSent]);

    const q = await gw.quarantined();
    const key = (reason: string, topic: string, raw: Uint8Array): string => `${reason} ${topic} ${Buffer.from(raw).toString('hex')}`;
    const want = bad.map((b) => key(b.reason, b.topic, b.payload.subarray(0, MAX_PAYLOAD))).sort();
    assert.equal(q.length, bad.length);
    assert.deepEqual(q.map((row) => key(row.reasonCode, row.topicOrUri, row.raw)).sort(), want);
    const byReason: Record<string, number> = {};
    for (const b of bad) byReason[b.reason] = (byReason[b.reason] ?? 0) + 1;
    assert.deepEqual(gw.ingestor.counters.quarantinedByReason, byReason);
    assert.deepEqual((await gw.store.quarantineStats()).byReason, byReason);

    const readings = await gw.readings();
    for (const [k, id] of goodIds.entries()) {
      assert.deepEqual(readings.filter((x) => x.deviceId === id).map((x) => x.value), Array.from({ length: GOOD_EACH }, (_, i) => 20 + k + i / 100));
    }
    assert.equal(readings.length, goodIds.length * GOOD_EACH, 'nothing bad reached the log');
    for (const c of badClients.values()) assert.equal(c.connected, true, 'bad payloads do not cost a device its connection');
  });

  test('misbehaving connections are closed, counted, and nobody else notices', async () => {
    const c = await dev('env-0012');
    const before = { ...gw.broker.counters };
    const cases: { name: string; bytes: Buffer[] }[] = [
      { name: 'not MQTT at all', bytes: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')] },
      { name: 'a 200 MB PUBLISH announced', bytes: [connectPacket({ clientId: 'x1' }), Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]), Buffer.alloc(1000)] },
      { name: 'a five-byte remaining length', bytes: [connectPacket({ clientId: 'x2' }), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])] },
      { name: 'PUBLISH before CONNECT', bytes: [publishPacket({ topic: 'weir/env-0001/telemetry', payload: '{}', qos: 1 })] },
      { name: 'a second CONNECT', bytes: [connectPacket({ clientId: 'x3' }), connectPacket({ clientId: 'x3' })] },
    ];
    for (const k of cases) {
      const raw = await RawClient.open(gw.ports.tcp!);
      raw.send(...k.bytes);
      await raw.closedByPeer();
    }
    const after = gw.broker.counters;
    assert.equal(after.oversizedPackets - before.oversizedPackets, 1);
    assert.equal(after.malformedPackets - before.malformedPackets, 1);
    assert.ok(after.clientErrors - before.clientErrors >= 2, 'protocol violations are counted');
    await c.publishAsync('weir/env-0012/telemetry', JSON.stringify({ ts: T + 999, temperature: 30 }), { qos: 1 });
    assert.ok((await gw.readings()).some((x) => x.deviceId === 'env-0012' && x.value === 30));
    await until(() => gw.broker.counters.connectionsNow === clients.filter((m) => m.connected).length, 'closed connections to be gone');
  });
});
