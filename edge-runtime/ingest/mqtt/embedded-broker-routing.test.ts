/**
 * Device telemetry is not routed through aedes (no one can subscribe to it): it ends once the Ingestor
 * has it, while commands (and everything else) still are routed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { startTestGateway, until, type TestGateway } from '../../../test/support/mqtt-ingest-harness.ts';

const T = 1_767_225_600_000;
let gw: TestGateway;
let c: MqttClient;

before(async () => {
  gw = await startTestGateway({ auth: 'anonymous', listen: { port: 0 } });
  c = await mqtt.connectAsync(gw.url, { clientId: 'env-0001', reconnectPeriod: 0, protocolVersion: 4 });
});

after(async () => {
  await c.endAsync(true);
  await gw.close();
});

test('telemetry at QoS 0, 1 and 2 is ingested without being routed; commands are routed', async () => {
  const routed: string[] = [];
  const aedes = (gw.broker as unknown as { broker: { on(e: 'publish', f: (p: { topic: string }) => void): void } }).broker;
  aedes.on('publish', (p) => {
    if (!p.topic.startsWith('$SYS')) routed.push(p.topic);
  });
  await new Promise<void>((resolve, reject) => c.subscribe('weir/env-0001/commands', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  const got: string[] = [];
  c.on('message', (topic, p) => got.push(`${topic} ${p.toString()}`));
  for (const qos of [0, 1, 2] as const) await c.publishAsync('weir/env-0001/telemetry', JSON.stringify({ ts: T + qos, temperature: 20 + qos }), { qos });
  await until(async () => (await gw.readings()).length === 3, 'three readings');
  assert.deepEqual((await gw.readings()).map((r) => r.value), [20, 21, 22]);
  assert.equal(gw.broker.metrics().broker.routingSkipped, 3);
  await gw.broker.publishCommand('env-0001', 'reboot', 1);
  await until(() => got.length === 1, 'the command');
  assert.deepEqual(got, ['weir/env-0001/commands reboot']);
  assert.deepEqual(routed, ['weir/env-0001/commands']);
});
