/**
 * External-broker mode against this machine's Mosquitto (127.0.0.1:1883;
 * `.ci/run` starts it if it is down), as an MQTT 3.1.1 and an MQTT 5 client
 * with a persistent session: what is published while the gateway is stopped
 * arrives after it starts; a message is acknowledged only once durable, so
 * what was received but never made durable is redelivered to the next run.
 * Every test uses its own random topic prefix and client ids, and removes
 * its sessions from Mosquitto afterwards.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { validateProfiles, type DeviceProfile } from '../devices/index.ts';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/credentials-file.ts';
import { DeviceAuthenticator } from '../edge-runtime/ingest/mqtt/device-authenticator.ts';
import { ExternalBrokerIngest } from '../edge-runtime/ingest/mqtt/external-broker-ingest.ts';
import { startTestGateway, tempDir, until, type TestGateway } from './support/mqtt-ingest-harness.ts';

const URL_ = 'mqtt://127.0.0.1:1883';
const T = 1_767_225_600_000;

async function mosquittoUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(1883, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
const skip = (await mosquittoUp()) ? false : 'no MQTT broker on 127.0.0.1:1883 (.ci/run starts Mosquitto)';

const sessions: { clientId: string; v: 4 | 5 }[] = [];
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  // Remove our persistent sessions from the broker: a clean connect ends them.
  for (const s of sessions) {
    const c = await mqtt.connectAsync(URL_, { clientId: s.clientId, clean: true, protocolVersion: s.v, reconnectPeriod: 0, ...(s.v === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}) });
    await c.endAsync();
  }
});

function profilesUnder(prefix: string): DeviceProfile[] {
  return validateProfiles([{
    name: 'env', deviceIdPattern: '^env-[0-9]+$', transport: { kind: 'mqtt', topic: `${prefix}/{deviceId}/telemetry`, qos: 1 },
    codec: 'json', samplingIntervalMs: 1000, eventTime: { source: 'payload', field: 'ts' },
    metrics: { temperature: { unit: 'Cel', range: [-40, 85], signal: { base: 20 } } },
  }]);
}

async function gateway(profiles: DeviceProfile[]): Promise<TestGateway> {
  const gw = await startTestGateway({ profiles });
  closers.push(() => gw.close());
  return gw;
}

function ingest(gw: TestGateway, profiles: DeviceProfile[], clientId: string, v: 4 | 5): ExternalBrokerIngest {
  if (!sessions.some((s) => s.clientId === clientId)) sessions.push({ clientId, v });
  const ext = new ExternalBrokerIngest({ url: URL_, clientId, protocolVersion: v, ingestor: gw.ingestor, profiles, sessionExpirySec: 600 });
  closers.push(() => ext.close(0));
  return ext;
}

async function publisher(prefix: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(URL_, { clientId: `${prefix}-pub`, reconnectPeriod: 0 });
  closers.push(() => c.endAsync().then(() => undefined));
  return c;
}

const values = async (gw: TestGateway): Promise<number[]> => (await gw.readings()).map((r) => r.value).sort((a, b) => a - b);
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('external-broker mode against Mosquitto', { skip }, () => {
  for (const v of [4, 5] as const) {
    test(`MQTT ${v === 4 ? '3.1.1' : '5'}: readings published while the gateway was stopped arrive after it starts`, async () => {
      const prefix = `weirtest-${randomBytes(6).toString('hex')}`;
      const profiles = profilesUnder(prefix);
      const clientId = `${prefix}-gw`;
      const gw = await gateway(profiles);
      const first = ingest(gw, profiles, clientId, v);
      await first.start();
      const pub = await publisher(prefix);
      for (const i of range(0, 20)) await pub.publishAsync(`${prefix}/env-${i}/telemetry`, JSON.stringify({ ts: T + i, temperature: i }), { qos: 1 });
      await until(async () => (await gw.readings()).length === 20, '20 live readings');
      await first.close();

      // Gateway down: 200 readings and 5 bad payloads wait in the broker's session queue.
      for (const i of range(20, 200)) await pub.publishAsync(`${prefix}/env-${i % 7}/telemetry`, JSON.stringify({ ts: T + i, temperature: i % 80 }), { qos: 1 });
      for (const i of range(0, 5)) await pub.publishAsync(`${prefix}/env-1/telemetry`, `broken ${i}`, { qos: 1 });

      const second = ingest(gw, profiles, clientId, v);
      await second.start();
      assert.equal(second.counters.sessionsResumed, 1, 'the broker kept our session');
      await until(async () => (await gw.readings()).length === 220 && (await gw.quarantined()).length === 5, 'the queued readings', 30_000);
      assert.deepEqual(await values(gw), [...range(0, 20), ...range(20, 200).map((i) => i % 80)].sort((a, b) => a - b));
      assert.deepEqual((await gw.quarantined()).map((q) => q.reasonCode), Array(5).fill('E_DECODE_JSON'));
      assert.equal(second.flow.counters.acksSent, 205);
    });

    test(`MQTT ${v === 4 ? '3.1.1' : '5'}: what was received but never durable is not acknowledged, and comes again`, async () => {
      const prefix = `weirtest-${randomBytes(6).toString('hex')}`;
      const profiles = profilesUnder(prefix);
      const clientId = `${prefix}-gw`;
      const stalled = await gateway(profiles);
      stalled.gate.close(); // the log never commits
      const first = ingest(stalled, profiles, clientId, v);
      await first.start();
      const pub = await publisher(prefix);
      for (const i of range(0, 10)) await pub.publishAsync(`${prefix}/env-${i}/telemetry`, JSON.stringify({ ts: T + i, temperature: i }), { qos: 1 });
      await until(() => first.flow.counters.frames === 10 && stalled.gate.held >= 1, 'all ten received, none durable');
      assert.equal(first.flow.counters.acksSent, 0);
      await first.close(0); // give up on them: no PUBACK was sent

      const gw = await gateway(profiles);
      const second = ingest(gw, profiles, clientId, v);
      await second.start();
      await until(async () => (await gw.readings()).length === 10, 'the ten redelivered', 30_000);
      assert.deepEqual(await values(gw), range(0, 10));
      assert.equal(second.flow.counters.acksSent, 10);
    });
  }
});

describe('external-broker mode: refusals', () => {
  // The peer here is weir's own embedded broker: it refuses bad credentials and telemetry subscriptions.
  test('bad credentials reject start() with E_MQTT_CONNECT; a refused subscription with E_MQTT_SUBSCRIBE', async () => {
    const tmp = tempDir();
    closers.push(() => tmp.cleanup());
    const file = CredentialsFile.load(tmp.file('c.json'), { createIfMissing: true });
    const secret = await file.add('gw-1');
    const peer = await startTestGateway({ auth: new DeviceAuthenticator({ credentials: file }) });
    closers.push(() => peer.close());
    const profiles = profilesUnder('weir');
    const gw = await gateway(profiles);
    const cases: { password: string; code: string }[] = [
      { password: 'wrong-secret', code: 'E_MQTT_CONNECT' },
      { password: secret, code: 'E_MQTT_SUBSCRIBE' },
    ];
    for (const c of cases) {
      const ext = new ExternalBrokerIngest({ url: peer.url, clientId: 'gw-1', username: 'gw-1', password: c.password, ingestor: gw.ingestor, profiles });
      closers.push(() => ext.close(0));
      await assert.rejects(ext.start(), (e: unknown) => (e as { code?: string }).code === c.code && !(e as Error).message.includes(c.password));
    }
  });
});
