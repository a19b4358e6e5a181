/**
 * A short live run on 127.0.0.1 ephemeral ports: an MQTT subscriber (on an
 * in-process aedes broker) and a CoAP observer (node-coap-client) receive
 * exactly the readings record mode says the same fleet sends; and a device
 * whose link drops buffers its samples and replays them after reconnecting,
 * with their original timestamps.
 *
 * Simulated time is stepped by the test (`engine.runUntil`), never by sleeps;
 * the test waits on events (connections, messages, notifications).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { CoapClient } from 'node-coap-client';
import { BUILTIN_PROFILES, builtinProfile, decodeFrame, matchMqttTopic, topicFilter } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { NO_FAULTS } from '../firmware-sim/core/fleet.ts';
import type { FleetEntry } from '../firmware-sim/core/fleet.ts';
import { DEFAULT_LINK, DEFAULT_START, defaultConfig } from '../firmware-sim/core/sim-config.ts';
import type { SimConfig } from '../firmware-sim/core/sim-config.ts';
import { LiveFleet } from '../firmware-sim/live/live-fleet.ts';
import { MemoryLines } from '../firmware-sim/record/ndjson-file.ts';
import { runRecord } from '../firmware-sim/record/record-run.ts';

const T0 = DEFAULT_START;
const profile = (n: string): DeviceProfile => builtinProfile(n) as DeviceProfile;

let broker: Aedes;
let server: Server;
let url: string;
const closers: (() => Promise<void> | void)[] = [];

before(async () => {
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(async () => {
  CoapClient.reset();
  for (const c of closers.splice(0).reverse()) await c();
});

/** What record mode says the fleet sends: `deviceId|metric|ts|value`, sorted. */
function expected(config: SimConfig): string[] {
  const lines = new MemoryLines();
  runRecord(config, lines, new MemoryLines());
  return lines.lines.map((l) => {
    const r = JSON.parse(l) as { deviceId: string; metric: string; ts: number; value: number };
    return `${r.deviceId}|${r.metric}|${r.ts}|${r.value}`;
  }).sort();
}

/** Collects decoded readings; `until(pred)` resolves once pred holds. */
class Collector {
  readonly got: string[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  add(items: string[]): void {
    this.got.push(...items);
    this.waiters = this.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
  }
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

let subscribers = 0;
async function subscriber(filters: string[]): Promise<{ client: MqttClient; readings: Collector }> {
  const client = await mqtt.connectAsync(url, { clientId: `test-sub-${++subscribers}`, reconnectPeriod: 0 });
  closers.push(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
  await client.subscribeAsync(filters, { qos: 1 });
  const readings = new Collector();
  client.on('message', (topic, payload) => {
    const m = matchMqttTopic(BUILTIN_PROFILES, topic);
    assert.ok(m, `unexpected topic ${topic}`);
    const rs = decodeFrame(m.profile, payload, { deviceId: m.deviceId, arrivalTime: 0 });
    readings.add(rs.map((r) => `${r.deviceId}|${r.metric}|${r.eventTime}|${r.value}`));
  });
  return { client, readings };
}

/** Lets I/O run, then resolves once no device is mid-connect (the MQTT CONNACKs are in). */
function settle(fleet: LiveFleet, ids: string[]): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (ids.every((id) => fleet.engine.linkState(id) !== 'connecting')) resolve();
      else setImmediate(check);
    };
    setImmediate(check);
  });
}

/** Steps simulated time a second at a time until every device's link is up; returns that time. */
async function advanceUntilUp(fleet: LiveFleet, ids: string[], from: number, limit: number): Promise<number> {
  let t = from;
  for (;;) {
    fleet.engine.runUntil(t);
    await settle(fleet, ids);
    if (ids.every((id) => fleet.engine.linkState(id) === 'up')) return t;
    assert.ok(t < limit, `links still down at ${t - T0} ms: ${ids.map((id) => fleet.engine.linkState(id)).join(",")} ${JSON.stringify(fleet.mqttStats())} ${JSON.stringify(fleet.engine.stats)}`);
    t += 1000;
  }
}

describe('firmware-sim live', () => {
  test('an MQTT subscriber and a CoAP observer receive exactly the readings record mode predicts', async () => {
    const fleet: FleetEntry[] = [
      { profile: profile('env-sensor'), count: 2, intervalMs: 2000 },
      { profile: profile('vibration'), count: 1 },
      { profile: profile('air-quality'), count: 1, intervalMs: 3000 },
      { profile: profile('power-meter'), count: 1, intervalMs: 2000 },
    ];
    const config = defaultConfig(fleet, { seed: 21, durationMs: 30_000, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
    const want = expected(config);
    const wantMqtt = want.filter((r) => !r.startsWith('pwr-'));
    const wantCoap = want.filter((r) => r.startsWith('pwr-'));
    assert.ok(wantMqtt.length > 50 && wantCoap.length > 20);

    const mqttProfiles = BUILTIN_PROFILES.filter((p) => p.transport.kind === 'mqtt');
    const sub = await subscriber(mqttProfiles.map((p) => topicFilter((p.transport as { topic: string }).topic)));
    const live = await LiveFleet.open(config, { brokerUrl: url, connections: 'per-device', wallNow: () => performance.now() });
    closers.push(() => live.close());

    const [ep] = live.endpoints();
    assert.equal(ep.url.startsWith('coap://127.0.0.1:'), true);
    const coapReadings = new Collector();
    await CoapClient.observe(ep.url, 'get', (resp) => {
      const rs = decodeFrame(profile('power-meter'), resp.payload ?? Buffer.alloc(0), { deviceId: ep.deviceId, arrivalTime: 0 });
      coapReadings.add(rs.map((r) => `${r.deviceId}|${r.metric}|${r.eventTime}|${r.value}`));
    });

    await advanceUntilUp(live, ['env-0001', 'env-0002', 'vib-0001', 'aq-0001'], T0, T0); // connect at once
    live.engine.runUntil(T0 + 35_000); // every sample and every in-flight delivery

    await sub.readings.until(() => sub.readings.got.length >= wantMqtt.length);
    await coapReadings.until(() => coapReadings.got.length >= wantCoap.length);
    assert.deepEqual([...sub.readings.got].sort(), wantMqtt);
    assert.deepEqual([...coapReadings.got].sort(), wantCoap);
  });

  test('a dropped link buffers samples and replays them after reconnecting, with their original timestamps', async () => {
    const fleet: FleetEntry[] = [
      { profile: profile('env-sensor'), count: 1, intervalMs: 1000 },
      { profile: profile('vibration'), count: 1, intervalMs: 1000 }, // QoS 1
    ];
    const config = defaultConfig(fleet, { seed: 4, durationMs: 60_000, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0, newestFirstShare: 0 } });
    const want = expected(config);
    const sub = await subscriber(['weir/+/telemetry', 'weir/+/vibration']);
    const connections: string[] = [];
    broker.on('client', (c) => connections.push(c.id));
    closers.push(() => void broker.removeAllListeners('client'));
    const downAt: number[] = [];
    const upAt: number[] = [];
    const live = await LiveFleet.open(config, {
      brokerUrl: url,
      connections: 'per-device',
      wallNow: () => performance.now(),
      hooks: { linkDown: (id, t) => id === 'env-0001' && downAt.push(t), linkUp: (id, t) => id === 'env-0001' && upAt.push(t) },
    });
    closers.push(() => live.close());
    const ids = ['env-0001', 'vib-0001'];

    await advanceUntilUp(live, ids, T0, T0);
    live.engine.runUntil(T0 + 20_000);
    const live20 = want.filter((r) => Number(r.split('|')[2]) < T0 + 18_000).length;
    await sub.readings.until(() => sub.readings.got.length >= live20);

    for (const id of ids) live.engine.forceOutage(id, 25_000); // the network is gone for 25 s of simulated time
    assert.equal(live.engine.linkState('env-0001'), 'down');
    const before = sub.readings.got.length;
    live.engine.runUntil(T0 + 40_000);
    assert.ok(live.engine.bufferedMessages('env-0001') >= 19, 'samples are buffered while offline');

    const upAgain = await advanceUntilUp(live, ids, T0 + 41_000, T0 + 120_000); // backoff attempts until one succeeds
    assert.ok(upAgain >= T0 + 45_000, 'reconnected while the network was still down');
    live.engine.runUntil(upAgain + 65_000);
    await sub.readings.until(() => sub.readings.got.length >= want.length);

    assert.deepEqual([...sub.readings.got].sort(), want, 'every reading arrives once, with its original timestamp');
    assert.deepEqual(connections.filter((c) => c === 'env-0001').length, 2, 'the device connected twice (client id = device id)');
    assert.equal(downAt.length, 1);
    assert.ok(upAt[1] >= T0 + 45_000, `reconnected at ${upAt[1] - T0} ms, before the outage ended`);
    assert.equal(sub.readings.got.slice(before).length, want.length - before);
    // The replayed readings carry timestamps from inside the outage, i.e. older than the reconnect.
    const replayed = sub.readings.got.slice(before).filter((r) => r.startsWith('env-0001|temperature'));
    const firstTs = Number(replayed[0].split('|')[2]);
    assert.ok(firstTs < downAt[0] + 2000 && firstTs < upAt[1] - 15_000, `first replayed ts ${firstTs - T0}`);
    assert.ok(live.engine.stats.replayedMessages >= 2 * 25);
  });
});
