/**
 * The gateway with its embedded MQTT broker, as `weir run` starts it: a device
 * authenticates with credentials from `weir device add`, publishes at QoS 1,
 * gets its PUBACK once the reading is durable, and the reading is in the log;
 * a device with a wrong secret is refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseGatewayConfig } from '../edge-runtime/config/gateway-config.ts';
import { Gateway } from '../edge-runtime/gateway/gateway.ts';
import { defaultServices } from '../edge-runtime/gateway/services.ts';
import type { MqttService } from '../edge-runtime/gateway/mqtt-service.ts';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/index.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'weir-gw-mqtt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an authenticated device publishes through the embedded broker into the durable log', async () => {
  const creds = CredentialsFile.load(join(dir, 'devices.json'), { createIfMissing: true });
  const secret = await creds.add('env-0001');
  creds.save();
  const cfg = parseGatewayConfig(`gateway:
  stateDir: state
mqtt:
  embedded: { host: 127.0.0.1, port: 0, credentials: devices.json }
pipelines:
  - name: env
    window: { type: tumbling, size: 1m }
    aggregates: [count, mean]
`, join(dir, 'gateway.yaml'));
  const logger = memoryLogger();
  const g = await Gateway.start(cfg, { logger, services: defaultServices() });
  let stopped = false;
  try {
    const port = g.service<MqttService>('mqtt')!.ports!.tcp!;
    const bad = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'env-0001', username: 'env-0001', password: 'wrong', reconnectPeriod: 0 });
    const refused = await new Promise<string>((resolve) => {
      bad.on('error', (e) => resolve((e as Error & { code?: number }).code?.toString() ?? e.message));
      bad.on('connect', () => resolve('connected'));
    });
    bad.end(true);
    assert.notEqual(refused, 'connected');

    const dev = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'env-0001', username: 'env-0001', password: secret, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      dev.on('connect', () => resolve());
      dev.on('error', reject);
    });
    const t = Date.UTC(2026, 0, 1, 12);
    for (let i = 0; i < 5; i++) {
      await dev.publishAsync('weir/env-0001/telemetry', JSON.stringify({ ts: t + i * 1000, temperature: 20 + i }), { qos: 1 });
    }
    await dev.endAsync();
    // PUBACK came only after durability: the five readings are in the log now, before any checkpoint.
    assert.equal(g.ingestor.counters.byTransport.mqtt.readings, 5);
    await g.stop();
    stopped = true;
  } finally {
    if (!stopped) await g.stop();
  }
  const s = await LocalStateStore.open({ path: join(dir, 'state', 'weir.db') });
  try {
    let readings = 0;
    for await (const seg of s.readFrom(1)) readings += seg.records.filter((r) => r.type === 'reading' && r.reading.deviceId === 'env-0001').length;
    assert.equal(readings, 5);
  } finally {
    await s.close();
  }
  assert.ok(logger.entries.some((e) => e.msg === 'mqtt broker listening'));
  assert.ok(!JSON.stringify(logger.entries).includes(secret), 'the secret is never logged');
});
