/**
 * A DTLS PSK device (profile cold-room): the simulator drives libcoap's
 * coap-server-openssl, and node-coap-client observes it over coaps with the
 * pre-shared key. Skipped, saying so, when libcoap3-bin is not installed.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CoapClient } from 'node-coap-client';
import { builtinProfile, decodeFrame } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { NO_FAULTS } from '../firmware-sim/core/fleet.ts';
import { DEFAULT_LINK, DEFAULT_START, defaultConfig } from '../firmware-sim/core/sim-config.ts';
import { LiveFleet } from '../firmware-sim/live/live-fleet.ts';
import { LIBCOAP_SERVER } from '../firmware-sim/live/libcoap-psk-device.ts';
import { MemoryLines } from '../firmware-sim/record/ndjson-file.ts';
import { runRecord } from '../firmware-sim/record/record-run.ts';

const haveLibcoap = spawnSync('sh', ['-c', `command -v ${LIBCOAP_SERVER}`]).status === 0;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  CoapClient.reset();
  for (const c of closers.splice(0)) await c();
});

test('a DTLS PSK device is observed over coaps with the pre-shared key', { skip: haveLibcoap ? false : `${LIBCOAP_SERVER} not installed (apt-get install libcoap3-bin)` }, async () => {
  const profile = builtinProfile('cold-room') as DeviceProfile;
  const config = defaultConfig([{ profile, count: 1, intervalMs: 1000 }], { seed: 2, durationMs: 8000, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
  const lines = new MemoryLines();
  runRecord(config, lines, new MemoryLines());
  const want = lines.lines.map((l) => {
    const r = JSON.parse(l) as { deviceId: string; metric: string; ts: number; value: number };
    return `${r.deviceId}|${r.metric}|${r.ts}|${r.value}`;
  });

  process.env.WEIR_SIM_PSK = 'weir-test-psk-0001';
  const live = await LiveFleet.open(config, { brokerUrl: null, connections: 'per-device', wallNow: () => performance.now() });
  closers.push(() => live.close());
  const [ep] = live.endpoints();
  assert.match(ep.url, /^coaps:\/\/127\.0\.0\.1:\d+\/sensors\/cold$/);
  assert.equal(ep.pskIdentity, 'cold-0001');

  CoapClient.setSecurityParams('127.0.0.1', { psk: { [ep.pskIdentity ?? '']: 'weir-test-psk-0001' } });
  const got: string[] = [];
  let wake: (() => void) | null = null;
  await CoapClient.observe(ep.url, 'get', (resp) => {
    assert.equal(resp.format, 112); // application/senml+cbor
    const rs = decodeFrame(profile, resp.payload ?? Buffer.alloc(0), { deviceId: ep.deviceId, arrivalTime: 0 });
    got.push(...rs.map((r) => `${r.deviceId}|${r.metric}|${r.eventTime}|${r.value}`));
    wake?.();
  });
  const until = (n: number): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = () => got.length >= n && resolve();
      if (got.length >= n) resolve();
    });
  // The resource starts out holding sample 0 (computed ahead), so the observer has it at once.
  await until(1);
  // Step one sample at a time and wait for its notification (libcoap may coalesce bursts; RFC 7641 §4.5).
  for (let t = DEFAULT_START; t <= DEFAULT_START + 9000; t += 1000) {
    live.engine.runUntil(t);
    await until(Math.max(1, live.engine.stats.messagesSent));
  }
  assert.deepEqual(got, want);
});
