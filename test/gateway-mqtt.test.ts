/**
 * The gateway with its embedded MQTT broker, as `weir run` starts it: a device
 * authenticates with credentials from `weir device add`, publishes at QoS 1,
 * gets its PUBACK once the reading is durable, and the reading is in the log;
 * a device with a wrong secret is refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** A gateway with its embedded broker on an ephemeral port, devices from `folder`/devices.json. */
const brokerConfig = (folder: string): ReturnType<typeof parseGatewayConfig> => parseGatewayConfig(`gateway:
  stateDir: state
mqtt:
  embedded: { host: 127.0.0.1, port: 0, credentials: devices.json }
pipelines:
  - name: env
    window: { type: tumbling, size: 1m }
    aggregates: [count, mean]
`, join(folder, 'gateway.yaml'));

test('an authenticated device publishes through the embedded broker into the durable log', async () => {
  const creds = CredentialsFile.load(join(dir, 'devices.json'), { createIfMissing: true });
  const secret = await creds.add('env-0001');
  creds.save();
  const cfg = brokerConfig(dir);
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

test('a device added (and one removed) while the gateway runs is taken without a restart; a broken file is refused', async () => {
  const sub = mkdtempSync(join(dir, 'reload-'));
  const path = join(sub, 'devices.json');
  const first = CredentialsFile.load(path, { createIfMissing: true });
  const oldSecret = await first.add('env-0001');
  first.save();
  const cfg = brokerConfig(sub);
  // A logger whose lines can be awaited (the reload is noticed by polling the file's stat).
  const base = memoryLogger();
  const waiters: { msg: string; resolve: () => void }[] = [];
  const logger = {
    entries: base.entries,
    log(level: Parameters<typeof base.log>[0], msg: string, fields?: Record<string, unknown>) {
      base.log(level, msg, fields);
      for (const w of waiters.filter((x) => x.msg === msg)) w.resolve();
    },
  };
  const next = (msg: string): Promise<void> => new Promise((resolve) => waiters.push({ msg, resolve }));
  const g = await Gateway.start(cfg, { logger, services: defaultServices() });
  const connect = async (id: string, password: string): Promise<boolean> => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: id, username: id, password, reconnectPeriod: 0 });
    const ok = await new Promise<boolean>((resolve) => {
      c.on('error', () => resolve(false));
      c.on('connect', () => resolve(true));
    });
    await c.endAsync(true);
    return ok;
  };
  const port = g.service<MqttService>('mqtt')!.ports!.tcp!;
  try {
    // As `weir device add` / `remove` do, in another process: load, change, save (atomic rename).
    const edit = CredentialsFile.load(path);
    const newSecret = await edit.add('env-0002');
    assert.equal(await connect('env-0002', newSecret), false, 'unknown before the file changed');
    edit.remove('env-0001');
    let reloaded = next('mqtt device credentials reloaded');
    edit.save();
    await reloaded;
    assert.equal(await connect('env-0002', newSecret), true, 'the added device connects');
    assert.equal(await connect('env-0001', oldSecret), false, 'the removed device is refused');

    const refused = next('mqtt device credentials not reloaded: keeping the previous ones');
    writeFileSync(path, '{ not json');
    await refused;
    assert.equal(await connect('env-0002', newSecret), true, 'a broken file leaves the previous credentials in force');
    assert.ok(!JSON.stringify(base.entries).includes(newSecret) && !JSON.stringify(base.entries).includes(oldSecret), 'no secret in the logs');
  } finally {
    await g.stop();
  }
});
