/**
 * CoAP over DTLS PSK against real libcoap servers (`coap-server-openssl`,
 * Debian libcoap3-bin) on 127.0.0.1, observed by CoapIngest into a real
 * runtime + store:
 *
 * - the simulator's DTLS device (profile cold-room) with the right key:
 *   every reading lands in the log, in order;
 * - in one gateway: a plain CoAP device, a DTLS device, a DTLS device whose
 *   server sends a PSK identity hint (node-dtls-client used to throw
 *   "unsupported message type 12" out of its socket handler and kill the
 *   process), and two devices configured with the wrong key, which fail
 *   with E_COAP_AUTH — not a timeout — while the others keep flowing.
 *
 * Skipped, saying so, when libcoap3-bin is not installed (CI installs it).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinProfile, validateProfile } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { encodePayload } from '../firmware-sim/core/payload.ts';
import { NO_FAULTS } from '../firmware-sim/core/fleet.ts';
import { DEFAULT_LINK, DEFAULT_START, defaultConfig } from '../firmware-sim/core/sim-config.ts';
import { CoapDeviceServer } from '../firmware-sim/live/coap-device-server.ts';
import { LiveFleet } from '../firmware-sim/live/live-fleet.ts';
import { MemoryLines } from '../firmware-sim/record/ndjson-file.ts';
import { runRecord } from '../firmware-sim/record/record-run.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { CoapIngest } from '../edge-runtime/ingest/coap/coap-ingest.ts';
import type { CoapIngestError } from '../edge-runtime/ingest/coap/coap-errors.ts';
import { LibcoapPskServer, haveLibcoap, LIBCOAP_SERVER } from '../edge-runtime/ingest/coap/libcoap-psk-server.ts';
import { IngestHarness, ManualTimer, waitFor } from '../edge-runtime/ingest/coap/test-support.ts';

const T0 = DEFAULT_START;
const skip = haveLibcoap ? false : `${LIBCOAP_SERVER} not installed (apt-get install libcoap3-bin)`;
const coldRoom = builtinProfile('cold-room') as DeviceProfile;
/** The same thermometer, provisioned with another key reference (the wrong key, in the test). */
const coldRoomX = validateProfile({ ...coldRoom, name: 'cold-room-x', deviceIdPattern: '^coldx-[0-9]{4,}$', deviceIdPrefix: 'coldx', credentials: { secret: 'env:COLDX_PSK', identity: '{deviceId}' } }, 'test');
const powerMeter = builtinProfile('power-meter') as DeviceProfile;
const PROFILES = [coldRoom, coldRoomX, powerMeter];
const KEY = 'weir-test-psk-0001';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Counts durable frames per device; `until(id, n)` resolves when device `id` has had `n`. */
function frameCounter(coap: CoapIngest): { count: (id: string) => number; until: (id: string, n: number) => Promise<void> } {
  const n = new Map<string, number>();
  coap.events.on('frame', (id) => n.set(id, (n.get(id) ?? 0) + 1));
  return {
    count: (id) => n.get(id) ?? 0,
    until: async (id, want) => {
      if ((n.get(id) ?? 0) >= want) return;
      await waitFor(coap.events, 'frame', (fid: string) => fid === id && (n.get(id) ?? 0) >= want, `${want} frames from ${id}`, 15_000);
    },
  };
}

const cold = (profile: DeviceProfile, id: string, k: number): Uint8Array => encodePayload(profile, id, [{ metric: 'temperature', value: 2 + k / 100, eventTime: T0 + k * 1000 }]);
const coldReading = (id: string, k: number): string => `${id}|temperature|${T0 + k * 1000}|${2 + k / 100}`;

describe('CoAP ingest over DTLS PSK (libcoap)', { skip }, () => {
  test('the simulator\'s DTLS device is observed over coaps with the pre-shared key: every reading, in order', async () => {
    const config = defaultConfig([{ profile: coldRoom, count: 1, intervalMs: 1000 }], { seed: 3, durationMs: 8000, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
    const lines = new MemoryLines();
    runRecord(config, lines, new MemoryLines());
    const want = lines.lines.map((l) => {
      const r = JSON.parse(l) as { deviceId: string; metric: string; ts: number; value: number };
      return `${r.deviceId}|${r.metric}|${r.ts}|${r.value}`;
    });
    const h = await IngestHarness.open(PROFILES);
    closers.push(() => h.close());
    process.env.WEIR_SIM_PSK = KEY; // the simulator's libcoap device reads it
    const live = await LiveFleet.open(config, { brokerUrl: null, connections: 'per-device', wallNow: () => performance.now() });
    closers.push(() => live.close());
    const [ep] = live.endpoints();
    assert.match(ep!.url, /^coaps:\/\/127\.0\.0\.1:\d+\/sensors\/cold$/);

    const coap = new CoapIngest({
      profiles: PROFILES, devices: [{ deviceId: ep!.deviceId, endpoint: new URL(ep!.url).host }], ingestor: h.ingestor,
      timer: new ManualTimer(h.clock), secrets: { env: { WEIR_SIM_PSK: KEY }, readFile: () => '' },
    });
    closers.push(() => coap.close());
    const frames = frameCounter(coap);
    coap.start();
    await frames.until(ep!.deviceId, 1); // the resource holds sample 0 from the start
    // One sample at a time: libcoap may fold a burst of PUTs into one notification (RFC 7641 §4.5).
    for (let t = T0; t <= T0 + 9000; t += 1000) {
      live.engine.runUntil(t);
      await frames.until(ep!.deviceId, Math.max(1, live.engine.stats.messagesSent));
    }
    assert.deepEqual(await h.readings(), want);
    assert.equal(coap.device(ep!.deviceId)?.state, 'observing');
  });

  test('one gateway: a wrong key fails with E_COAP_AUTH, a server with an identity hint is observed, and the other devices keep flowing', async () => {
    const h = await IngestHarness.open(PROFILES);
    closers.push(() => h.close());
    const servers = {
      'cold-0001': new LibcoapPskServer({ psk: KEY, hint: '', resource: '/sensors/cold', contentFormat: 112, nonConfirmable: true }),
      'cold-0002': new LibcoapPskServer({ psk: KEY, hint: 'weir-gateway-hint', resource: '/sensors/cold', contentFormat: 112 }),
      'coldx-0001': new LibcoapPskServer({ psk: KEY, hint: '', resource: '/sensors/cold', contentFormat: 112 }),
      'coldx-0002': new LibcoapPskServer({ psk: KEY, hint: 'weir-gateway-hint', resource: '/sensors/cold', contentFormat: 112 }),
    };
    for (const [id, s] of Object.entries(servers)) {
      closers.push(() => s.stop());
      await s.start(cold(id.startsWith('coldx') ? coldRoomX : coldRoom, id, 0));
    }
    const plain = new CoapDeviceServer({
      deviceId: 'pwr-0001', resource: '/sensors/power', contentFormat: 60, confirmable: true,
      policy: { confirmEveryMs: 1000, ackTimeoutMs: 60_000, maxObservers: 4 }, now: () => performance.now(), firstMessageId: 7,
    });
    await plain.listen();
    closers.push(() => plain.close());
    const power = (k: number): Uint8Array => encodePayload(powerMeter, 'pwr-0001', [{ metric: 'power', value: k, eventTime: T0 + k * 1000 }]);
    plain.publish(power(0));

    const log = memoryLogger();
    const coap = new CoapIngest({
      profiles: PROFILES,
      devices: [
        { deviceId: 'pwr-0001', endpoint: `127.0.0.1:${plain.port}` },
        ...Object.entries(servers).map(([deviceId, s]) => ({ deviceId, endpoint: s.endpoint })),
      ],
      ingestor: h.ingestor,
      timer: new ManualTimer(h.clock),
      logger: log,
      secrets: { env: { WEIR_SIM_PSK: KEY, COLDX_PSK: 'not-the-device-key' }, readFile: () => '' },
    });
    closers.push(() => coap.close());
    const frames = frameCounter(coap);
    const failures: string[] = [];
    const bothRefused = waitFor(coap.events, 'failure', (id: string, e: CoapIngestError) => {
      failures.push(`${id}:${e.code}`);
      return failures.length === 2;
    }, 'both wrong-key devices to fail', 15_000);
    const plainObserved = waitFor(plain.events, 'observe', () => true, 'the plain device to be observed');
    coap.start();
    await plainObserved;
    await Promise.all(['pwr-0001', 'cold-0001', 'cold-0002'].map((id) => frames.until(id, 1)));
    await bothRefused;
    assert.deepEqual(failures.sort(), ['coldx-0001:E_COAP_AUTH', 'coldx-0002:E_COAP_AUTH'], 'refused keys are authentication failures, not timeouts');

    // The good devices keep flowing while the refused ones wait to retry.
    for (let k = 1; k <= 3; k++) {
      plain.publish(power(k));
      assert.ok(await servers['cold-0001'].put(cold(coldRoom, 'cold-0001', k)));
      assert.ok(await servers['cold-0002'].put(cold(coldRoom, 'cold-0002', k)));
      await Promise.all(['pwr-0001', 'cold-0001', 'cold-0002'].map((id) => frames.until(id, k + 1)));
    }

    const got = await h.readings();
    for (const id of ['cold-0001', 'cold-0002']) assert.deepEqual(got.filter((r) => r.startsWith(`${id}|`)), [0, 1, 2, 3].map((k) => coldReading(id, k)));
    assert.deepEqual(got.filter((r) => r.startsWith('pwr-0001|')), [0, 1, 2, 3].map((k) => `pwr-0001|power|${T0 + k * 1000}|${k}`));
    assert.equal(got.filter((r) => r.startsWith('coldx-')).length, 0);

    for (const id of ['coldx-0001', 'coldx-0002']) {
      const st = coap.device(id);
      assert.equal(st?.state, 'backoff');
      assert.equal(st?.lastError?.code, 'E_COAP_AUTH', `${id}: ${st?.lastError?.message}`);
    }
    for (const id of ['pwr-0001', 'cold-0001', 'cold-0002']) assert.equal(coap.device(id)?.state, 'observing');
    const m = coap.metrics();
    assert.equal(m.authFailures, 2);
    assert.equal(m.timeouts, 0, 'a wrong key is an authentication failure, not a timeout');
    assert.equal(m.observationsActive, 3);
    // The key is never logged.
    const text = JSON.stringify(log.entries);
    assert.ok(!text.includes(KEY) && !text.includes('not-the-device-key'), 'no key in the logs');
    assert.ok(log.entries.some((e) => e.level === 'error' && e.fields?.code === 'E_COAP_AUTH'));
  });

  test('a DTLS device that restarts (its session and observers gone) is registered again over a new handshake', async () => {
    const h = await IngestHarness.open(PROFILES);
    closers.push(() => h.close());
    const server = new LibcoapPskServer({ psk: KEY, hint: 'weir-gateway-hint', resource: '/sensors/cold', contentFormat: 112 });
    closers.push(() => server.stop());
    await server.start(cold(coldRoom, 'cold-0001', 0));
    const timer = new ManualTimer(h.clock);
    const coap = new CoapIngest({
      profiles: PROFILES, devices: [{ deviceId: 'cold-0001', endpoint: server.endpoint }], ingestor: h.ingestor, timer,
      secrets: { env: { WEIR_SIM_PSK: KEY }, readFile: () => '' },
    });
    closers.push(() => coap.close());
    const frames = frameCounter(coap);
    coap.start();
    await frames.until('cold-0001', 1);
    assert.ok(await server.put(cold(coldRoom, 'cold-0001', 1)));
    await frames.until('cold-0001', 2);

    await server.restart(cold(coldRoom, 'cold-0001', 2));
    const [watchdog] = timer.pending();
    assert.equal(watchdog, 65_000, 'no Max-Age from libcoap: 60 s + 5 s grace');
    const again = waitFor(coap.events, 'state', (_id: string, s: string) => s === 'observing', 'the new registration');
    timer.advance(watchdog!); // silence: the observation is lost
    await again;
    await frames.until('cold-0001', 3);
    assert.ok(await server.put(cold(coldRoom, 'cold-0001', 3)));
    await frames.until('cold-0001', 4);
    assert.deepEqual(await h.readings(), [0, 1, 2, 3].map((k) => coldReading('cold-0001', k)));
    const m = coap.metrics();
    assert.equal(m.lostObservations, 1);
    assert.equal(m.reregistrations, 1);
  });
});
