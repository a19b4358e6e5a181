/**
 * CoAP ingest end to end on 127.0.0.1: the simulator's CoAP devices (coap
 * servers on ephemeral UDP ports) observed by CoapIngest (node-coap-client)
 * into a real GatewayRuntime + LocalStateStore in a temp dir.
 *
 * - every reading the simulator sends lands in the ingest log, in each
 *   device's order, confirmable and non-confirmable alike;
 * - malformed payloads (`--bad-rate`) land in quarantine with the reason
 *   their kind calls for, while the good ones keep flowing;
 * - a device that restarts (forgets its observers) is registered again;
 * - a device that is unreachable is retried with backoff until it answers.
 *
 * Simulated time is stepped by the test; the ingest's timers are a manual
 * timer moved by the test. Waits are on events, with deadlines that fail.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinProfile, validateProfile } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { FleetEngine } from '../firmware-sim/core/fleet-engine.ts';
import type { FleetTransport, OutMessage } from '../firmware-sim/core/fleet-engine.ts';
import { NO_FAULTS, buildFleet } from '../firmware-sim/core/fleet.ts';
import type { MalformedKind } from '../firmware-sim/core/payload.ts';
import { encodePayload } from '../firmware-sim/core/payload.ts';
import { DEFAULT_LINK, DEFAULT_START, defaultConfig, engineConfig, fleetOptions } from '../firmware-sim/core/sim-config.ts';
import type { SimConfig } from '../firmware-sim/core/sim-config.ts';
import { CoapDeviceServer } from '../firmware-sim/live/coap-device-server.ts';
import { LiveFleet } from '../firmware-sim/live/live-fleet.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { CoapIngest } from '../edge-runtime/ingest/coap/coap-ingest.ts';
import type { CoapIngestOptions } from '../edge-runtime/ingest/coap/coap-ingest.ts';
import { IngestHarness, ManualTimer, fmt, waitFor } from '../edge-runtime/ingest/coap/test-support.ts';

const T0 = DEFAULT_START;
const powerMeter = builtinProfile('power-meter') as DeviceProfile;
/** The same meter sending non-confirmable notifications. */
const powerMeterNon = validateProfile({ ...powerMeter, name: 'power-meter-non', deviceIdPattern: '^pwn-[0-9]{4,}$', deviceIdPrefix: 'pwn', transport: { ...powerMeter.transport, confirmable: false } }, 'test');
const PROFILES = [powerMeter, powerMeterNon];

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Every message the fleet sends, in send order, from an identical engine (the simulator is seeded). */
function shadowRun(config: SimConfig): OutMessage[] {
  const sent: OutMessage[] = [];
  const capture: FleetTransport = { connect: (_d, done) => done(true), disconnect: () => {}, send: (_d, msg) => void sent.push(msg) };
  new FleetEngine(buildFleet(config.fleet, fleetOptions(config)), engineConfig(config, true), capture, { label: () => {} }).finish();
  return sent;
}

async function setup(config: SimConfig, extra: Partial<CoapIngestOptions> = {}): Promise<{ h: IngestHarness; live: LiveFleet; coap: CoapIngest; timer: ManualTimer }> {
  const h = await IngestHarness.open(PROFILES);
  closers.push(() => h.close());
  const live = await LiveFleet.open(config, { brokerUrl: null, connections: 'per-device', wallNow: () => performance.now() });
  closers.push(() => live.close());
  const timer = new ManualTimer(h.clock);
  const devices = live.endpoints().map((e) => ({ deviceId: e.deviceId, endpoint: new URL(e.url).host }));
  const coap = new CoapIngest({ profiles: PROFILES, devices, ingestor: h.ingestor, timer, random: () => 0.5, ...extra });
  closers.push(() => coap.close());
  const observed = Promise.all(live.endpoints().map((e) => {
    const server = live.coap?.server(e.deviceId) as CoapDeviceServer;
    return waitFor(server.events, 'observe', () => true, `${e.deviceId} to be observed`);
  }));
  coap.start();
  await observed;
  return { h, live, coap, timer };
}

/** Resolves once `n` frames (readings or quarantine records) are durable. */
function framesDurable(coap: CoapIngest, n: number, what: string): Promise<void> {
  let seen = 0;
  return waitFor<unknown[]>(coap.events, 'frame', () => ++seen >= n, `${n} durable frames (${what})`, 20_000).then(() => undefined);
}

describe('CoAP ingest: the simulator observed end to end', () => {
  test('every reading lands in the log, in each device\'s order, confirmable and non-confirmable', async () => {
    const config = defaultConfig([
      { profile: powerMeter, count: 2, intervalMs: 1000 },
      { profile: powerMeterNon, count: 1, intervalMs: 1000 },
    ], { seed: 7, durationMs: 20_000, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
    const sent = shadowRun(config);
    const { h, live, coap } = await setup(config);
    const done = framesDurable(coap, sent.length, 'all samples');
    live.engine.runUntil(T0 + 25_000);
    await done;

    const got = await h.readings();
    for (const id of ['pwr-0001', 'pwr-0002', 'pwn-0001']) {
      const want = sent.filter((m) => m.deviceId === id).flatMap((m) => m.readings.map((r) => fmt({ deviceId: id, metric: r.metric, eventTime: r.eventTime ?? -1, value: r.value })));
      assert.ok(want.length >= 38, `${id}: ${want.length} readings`);
      assert.deepEqual(got.filter((r) => r.startsWith(`${id}|`)), want, `${id}: the log holds its readings, once each, in order`);
    }
    const m = coap.metrics();
    assert.equal(m.observationsActive, 3);
    assert.equal(m.registrations, 3);
    assert.equal(m.notifications, sent.length);
    assert.equal(m.reordered, 0);
    assert.equal(m.quarantined, 0);
    assert.equal(m.readings, got.length);
  });

  test('malformed payloads land in quarantine with the right reason; good readings keep flowing', async () => {
    const config = defaultConfig([
      { profile: powerMeter, count: 2, intervalMs: 500 },
      { profile: powerMeterNon, count: 1, intervalMs: 500 },
    ], { seed: 11, durationMs: 30_000, badRate: 0.3, faults: NO_FAULTS, link: { ...DEFAULT_LINK, outagesPerDay: 0 } });
    const sent = shadowRun(config);
    const bad = sent.filter((m) => m.malformed !== null);
    assert.ok(bad.length >= 40, `only ${bad.length} malformed messages`);
    const { h, live, coap } = await setup(config);
    const done = framesDurable(coap, sent.length, 'all samples');
    live.engine.runUntil(T0 + 35_000);
    await done;

    // What each malformed kind is, in the raw CBOR map codec's terms (devices/ codecs).
    const REASON: Record<MalformedKind, string> = {
      empty: 'E_DECODE_SIZE', // an empty payload holds no data item at all
      garbage: 'E_DECODE_CBOR',
      truncated: 'E_DECODE_CBOR',
      string_value: 'E_DECODE_FIELD',
      nonfinite: 'E_DECODE_NONFINITE',
    };
    const rows = await h.quarantine();
    for (const id of ['pwr-0001', 'pwr-0002', 'pwn-0001']) {
      const mine = sent.filter((m) => m.deviceId === id);
      assert.deepEqual(
        rows.filter((r) => r.deviceId === id).map((r) => `${r.reasonCode}|${Buffer.from(r.raw).toString('hex')}`),
        mine.filter((m) => m.malformed !== null).map((m) => `${REASON[m.malformed as MalformedKind]}|${Buffer.from(m.payload ?? []).toString('hex')}`),
        `${id}: each malformed payload is quarantined, raw bytes and reason`,
      );
      assert.ok(rows.filter((r) => r.deviceId === id).every((r) => r.source === 'coap' && r.topicOrUri === coap.device(id)?.uri));
      const want = mine.filter((m) => m.malformed === null).flatMap((m) => m.readings.map((r) => fmt({ deviceId: id, metric: r.metric, eventTime: r.eventTime ?? -1, value: r.value })));
      assert.deepEqual((await h.readings()).filter((r) => r.startsWith(`${id}|`)), want, `${id}: good readings all arrive, in order`);
    }
    assert.equal(coap.metrics().quarantined, bad.length);
    assert.equal(coap.metrics().observationsActive, 3, 'bad payloads never end an observation');
  });
});

describe('CoAP ingest: recovery', () => {
  const payload = (k: number): Uint8Array => encodePayload(powerMeter, 'pwr-0001', [
    { metric: 'power', value: 1000 + k, eventTime: T0 + k * 1000 },
    { metric: 'energy', value: 5000 + k, eventTime: T0 + k * 1000 },
  ]);
  const reading = (k: number): string[] => [`pwr-0001|power|${T0 + k * 1000}|${1000 + k}`, `pwr-0001|energy|${T0 + k * 1000}|${5000 + k}`];

  async function device(port = 0): Promise<CoapDeviceServer> {
    const s = new CoapDeviceServer({
      deviceId: 'pwr-0001', resource: '/sensors/power', contentFormat: 60, confirmable: true,
      policy: { confirmEveryMs: 1000, ackTimeoutMs: 60_000, maxObservers: 4 }, now: () => performance.now(), port, firstMessageId: 500 + port % 1000,
    });
    await s.listen();
    return s;
  }

  test('a device that restarts and forgets its observers is registered again; the new sequence is accepted', async () => {
    const h = await IngestHarness.open(PROFILES);
    closers.push(() => h.close());
    let server = await device();
    const port = server.port;
    closers.push(() => server.close());
    const timer = new ManualTimer(h.clock);
    const log = memoryLogger();
    const coap = new CoapIngest({ profiles: PROFILES, devices: [{ deviceId: 'pwr-0001', endpoint: `127.0.0.1:${port}` }], ingestor: h.ingestor, timer, random: () => 0.5, logger: log });
    closers.push(() => coap.close());

    server.publish(payload(1));
    const registered = waitFor(server.events, 'observe', () => true, 'the registration');
    coap.start();
    await registered;
    await framesDurable(coap, 1, 'the first response');
    let next = framesDurable(coap, 2, 'two notifications');
    server.publish(payload(2));
    server.publish(payload(3));
    await next;
    assert.equal(coap.device('pwr-0001')?.state, 'observing');
    assert.deepEqual(timer.pending(), [65_000], 'watchdog: Max-Age 60 s (default) + 5 s grace');

    // Restart: a new process on the same port, with no observers and its own Observe sequence.
    await server.close();
    server = await device(port);
    server.publish(payload(4)); // nobody is observing the new instance yet
    assert.equal(server.stats.unobserved, 1);

    const again = waitFor(server.events, 'observe', () => true, 'the new registration');
    next = framesDurable(coap, 1, 'the response to the new registration');
    timer.advance(65_000); // the watchdog fires: the observation is lost
    await again;
    await next;
    next = framesDurable(coap, 1, 'a notification from the restarted device');
    server.publish(payload(5));
    await next;

    assert.deepEqual(await h.readings(), [1, 2, 3, 4, 5].flatMap(reading));
    const m = coap.metrics();
    assert.equal(m.lostObservations, 1);
    assert.equal(m.registrations, 2);
    assert.equal(m.reregistrations, 1);
    assert.equal(m.reordered, 0, 'the restarted sequence is a new registration (RFC 7641 §3.4 is per registration)');
    assert.ok(log.entries.some((e) => e.msg === 'coap observation lost: registering again'));
  });

  test('an unreachable device is retried with growing, jittered backoff until it answers', async () => {
    const h = await IngestHarness.open(PROFILES);
    closers.push(() => h.close());
    // Reserve a port, then leave it closed: the device is down.
    const probe = await device();
    const port = probe.port;
    await probe.close();
    const timer = new ManualTimer(h.clock);
    const draws = [0, 0.999, 0.5, 0.25];
    let i = 0;
    const coap = new CoapIngest({
      profiles: PROFILES, devices: [{ deviceId: 'pwr-0001', endpoint: `127.0.0.1:${port}` }], ingestor: h.ingestor, timer,
      random: () => draws[i++ % draws.length], registerTimeoutMs: 3000, backoff: { baseMs: 1000, capMs: 4000 },
    });
    closers.push(() => coap.close());
    const states: string[] = [];
    coap.events.on('state', (_id, s) => states.push(s));

    coap.start();
    await waitFor(coap.events, 'state', (_id: string, s: string) => s === 'registering', 'the registration to go out');
    const delays: number[] = [];
    for (let n = 0; n < 4; n++) {
      const backoff = waitFor(coap.events, 'state', (_id: string, s: string) => s === 'backoff', `failure ${n + 1}`);
      timer.advance(3000); // the registration deadline passes without an answer
      await backoff;
      delays.push((coap.device('pwr-0001')?.nextAttemptAt as number) - h.clock.now());
      if (n === 3) break;
      const retry = waitFor(coap.events, 'state', (_id: string, s: string) => s === 'registering', `retry ${n + 1}`);
      timer.advance(delays[n]!);
      await retry;
    }
    // Equal jitter: ceiling/2 + random·ceiling/2, ceiling = min(cap, base·2^(failures−1)).
    assert.deepEqual(delays, [500, 1999, 3000, 2500]);
    assert.equal(coap.metrics().timeouts, 4);
    assert.equal(coap.device('pwr-0001')?.lastError?.code, 'E_COAP_TIMEOUT');
    assert.equal(coap.device('pwr-0001')?.state, 'backoff');

    // The device comes back while the ingest waits; the next attempt reaches it.
    const server = await device(port);
    closers.push(() => server.close());
    server.publish(payload(1));
    const ok = waitFor(coap.events, 'state', (_id: string, s: string) => s === 'observing', 'the device to be observed again');
    const first = framesDurable(coap, 1, 'the first reading after the outage');
    timer.advance(delays[3]!);
    await ok;
    await first;
    assert.deepEqual(await h.readings(), reading(1));
    assert.equal(coap.metrics().observationsActive, 1);
    assert.equal(coap.metrics().reregistrations, 0, 'the first successful registration of this device');
    assert.ok(states.filter((s) => s === 'backoff').length >= 4);
  });
});
