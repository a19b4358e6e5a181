/**
 * The simulated fleet end to end through the embedded broker: firmware-sim
 * devices, one MQTT connection each (client id = device id), authenticated
 * with their credentials, publishing flat JSON (QoS 0), SenML CBOR (QoS 1)
 * and SenML JSON, with a share of malformed messages. The gateway's durable
 * log holds exactly the readings record mode says the same seeded fleet
 * sends, and quarantine holds exactly its malformed messages.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinProfile, type DeviceProfile } from '../devices/index.ts';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/credentials-file.ts';
import { DeviceAuthenticator } from '../edge-runtime/ingest/mqtt/device-authenticator.ts';
import { NO_FAULTS, buildFleet, type FleetEntry } from '../firmware-sim/core/fleet.ts';
import { DEFAULT_LINK, DEFAULT_START, defaultConfig, fleetOptions } from '../firmware-sim/core/sim-config.ts';
import { LiveFleet } from '../firmware-sim/live/live-fleet.ts';
import { MemoryLines } from '../firmware-sim/record/ndjson-file.ts';
import { runRecord } from '../firmware-sim/record/record-run.ts';
import { startTestGateway, tempDir, until } from './support/mqtt-ingest-harness.ts';

const tmp = tempDir();
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  tmp.cleanup();
});

/** Built-in profiles, every one with MQTT credentials (the simulator reads the secret from the environment). */
const withCreds = (name: string): DeviceProfile => ({ ...builtinProfile(name)!, credentials: { secret: 'env:WEIR_SIM_MQTT_PASSWORD' } });

describe('the simulated fleet through the embedded broker', () => {
  test('the log holds exactly what record mode predicts; quarantine exactly the malformed messages', async () => {
    const fleet: FleetEntry[] = [
      { profile: withCreds('env-sensor'), count: 3, intervalMs: 1000 },
      { profile: withCreds('vibration'), count: 2, intervalMs: 1000 },
      { profile: withCreds('air-quality'), count: 1, intervalMs: 2000 },
    ];
    const config = defaultConfig(fleet, { seed: 77, durationMs: 30_000, badRate: 0.1, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
    const lines = new MemoryLines();
    const stats = runRecord(config, lines, new MemoryLines());
    const want = lines.lines.map((l) => {
      const r = JSON.parse(l) as { deviceId: string; metric: string; ts: number; value: number };
      return `${r.deviceId}|${r.metric}|${r.ts}|${r.value}`;
    }).sort();
    assert.ok(want.length > 200 && stats.malformedMessages > 10, `${want.length} readings, ${stats.malformedMessages} malformed`);

    const secret = 'fleet-shared-secret';
    process.env.WEIR_SIM_MQTT_PASSWORD = secret;
    const file = CredentialsFile.load(tmp.file('credentials.json'), { createIfMissing: true });
    for (const d of buildFleet(config.fleet, fleetOptions(config))) await file.add(d.id, { secret, params: { N: 1024, r: 8, p: 1 } });
    const gw = await startTestGateway({ auth: new DeviceAuthenticator({ credentials: file }), profiles: fleet.map((f) => f.profile) });
    closers.push(() => gw.close());

    const live = await LiveFleet.open(config, { brokerUrl: gw.url, connections: 'per-device', wallNow: () => performance.now() });
    closers.push(() => live.close());
    const ids = live.devices.map((d) => d.id);
    // Step simulated time a second at a time until every device is connected, then run to the end.
    let t = DEFAULT_START;
    for (;;) {
      live.engine.runUntil(t);
      await until(() => ids.every((id) => live.engine.linkState(id) !== 'connecting'), 'CONNACKs');
      if (ids.every((id) => live.engine.linkState(id) === 'up')) break;
      assert.ok(t < DEFAULT_START + 60_000, `links down: ${ids.map((id) => `${id}=${live.engine.linkState(id)}`).join(' ')}`);
      t += 1000;
    }
    live.engine.runUntil(DEFAULT_START + 35_000);

    await until(async () => (await gw.readings()).length >= want.length && (await gw.quarantined()).length >= stats.malformedMessages, 'every message', 30_000);
    const got = (await gw.readings()).map((r) => `${r.deviceId}|${r.metric}|${r.eventTime}|${r.value}`).sort();
    assert.deepEqual(got, want);
    const q = await gw.quarantined();
    assert.equal(q.length, stats.malformedMessages);
    assert.ok(q.every((row) => row.reasonCode.startsWith('E_DECODE_') && ids.includes(row.deviceId ?? '')), JSON.stringify(q.map((r) => r.reasonCode)));
    const auth = gw.broker.metrics().auth!;
    assert.equal(auth.failed, 0);
    assert.equal(auth.ok, ids.length);
  });
});
