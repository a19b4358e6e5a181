/**
 * CoAP ingest against a device written at the byte level (raw-coap-device.ts)
 * on 127.0.0.1, into a real runtime + store: exactly which notifications are
 * taken (RFC 7641 §3.4 reordering, the 24-bit wrap, the 128 s rule; RFC 7252
 * §4.5 duplicates), when confirmable ones are acknowledged (only once their
 * reading is durable; never while the backlog is full), and that malformed
 * datagrams, unknown options, error responses and non-observable resources
 * neither crash nor stall anything.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { builtinProfile } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { encodePayload } from '../firmware-sim/core/payload.ts';
import type { IngestOutcome, RawFrame } from '../edge-runtime/ingest/ingestor.ts';
import { CoapIngest } from '../edge-runtime/ingest/coap/coap-ingest.ts';
import type { CoapIngestOptions } from '../edge-runtime/ingest/coap/coap-ingest.ts';
import type { CoapSink } from '../edge-runtime/ingest/coap/coap-session-context.ts';
import type { CoapIngestError } from '../edge-runtime/ingest/coap/coap-errors.ts';
import { RawCoapDevice, encodeMessage } from '../edge-runtime/ingest/coap/raw-coap-device.ts';
import { IngestHarness, ManualTimer, waitFor } from '../edge-runtime/ingest/coap/test-support.ts';

const T0 = 1_767_225_600_000;
const profile = builtinProfile('power-meter') as DeviceProfile;
const P = (k: number): Uint8Array => encodePayload(profile, 'pwr-0001', [{ metric: 'power', value: k, eventTime: T0 + k * 1000 }]);
const R = (k: number): string => `pwr-0001|power|${T0 + k * 1000}|${k}`;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** An Ingestor in front of which the test can hold frames, or declare the log full. */
class GatedSink implements CoapSink {
  readonly arrived = new EventEmitter();
  held = false;
  full = false;
  private gates: (() => void)[] = [];
  private drains: (() => void)[] = [];
  constructor(private readonly inner: CoapSink) {}
  now(): number {
    return this.inner.now();
  }
  get writable(): boolean {
    return !this.full && this.inner.writable;
  }
  drained(): Promise<void> {
    return this.full ? new Promise((resolve) => this.drains.push(resolve)) : this.inner.drained();
  }
  async submit(frame: RawFrame): Promise<IngestOutcome> {
    this.arrived.emit('frame', frame);
    if (this.held) await new Promise<void>((resolve) => this.gates.push(resolve));
    return this.inner.submit(frame);
  }
  release(): void {
    this.held = false;
    for (const g of this.gates.splice(0)) g();
  }
  drain(): void {
    this.full = false;
    for (const d of this.drains.splice(0)) d();
  }
}

async function setup(extra: Partial<CoapIngestOptions> = {}, gate = false): Promise<{ h: IngestHarness; dev: RawCoapDevice; coap: CoapIngest; timer: ManualTimer; sink: GatedSink }> {
  const h = await IngestHarness.open([profile]);
  closers.push(() => h.close());
  const dev = new RawCoapDevice();
  await dev.listen();
  closers.push(() => dev.close());
  dev.response = { observe: 100, mid: 1, confirmable: false, payload: P(0), maxAge: 3600 };
  const timer = new ManualTimer(h.clock);
  const sink = new GatedSink(h.ingestor);
  const coap = new CoapIngest({ profiles: [profile], devices: [{ deviceId: 'pwr-0001', endpoint: `127.0.0.1:${dev.port}` }], ingestor: gate ? sink : h.ingestor, timer, random: () => 0.5, ...extra });
  closers.push(() => coap.close());
  closers.push(() => { // runs first: a failed test must not leave frames held, or close() would wait on them
    sink.release();
    sink.drain();
  });
  return { h, dev, coap, timer, sink };
}

/** Resolves once `n` more frames are durable. */
function frames(coap: CoapIngest, n: number, what: string): Promise<void> {
  let seen = 0;
  return waitFor<unknown[]>(coap.events, 'frame', () => ++seen >= n, what).then(() => undefined);
}

/** Round trip through the client: a notification with an unknown token is answered with RST (RFC 7641 §3.6). */
async function sync(dev: RawCoapDevice, mid: number): Promise<void> {
  const rst = waitFor(dev.events, 'rst', (m: number) => m === mid, `RST for probe ${mid}`);
  dev.notify({ observe: 1, mid, confirmable: false, payload: P(999), token: Buffer.from('dead', 'hex') });
  await rst;
}

async function observing(coap: CoapIngest, dev: RawCoapDevice): Promise<void> {
  const first = frames(coap, 1, 'the registration response');
  coap.start();
  await first;
  assert.ok(dev.registered);
  assert.equal(coap.device('pwr-0001')?.state, 'observing');
}

describe('CoAP ingest: notification order (RFC 7641 §3.4) and duplicates (RFC 7252 §4.5)', () => {
  test('reordered, repeated and wrapped Observe numbers: exactly the fresh notifications are taken, in order', async () => {
    const { h, dev, coap, timer } = await setup();
    await observing(coap, dev);
    const table: { observe: number; mid: number; con: boolean; k: number; taken: boolean }[] = [
      { observe: 101, mid: 1001, con: true, k: 1, taken: true },
      { observe: 103, mid: 1002, con: false, k: 3, taken: true },
      { observe: 102, mid: 1003, con: false, k: 2, taken: false }, // older than 103: reordered in the network
      { observe: 101, mid: 1001, con: true, k: 1, taken: false }, // the same message again (lost ACK): a duplicate
      { observe: 103, mid: 1005, con: false, k: 33, taken: false }, // same number, new message: not newer
      { observe: 104, mid: 1006, con: true, k: 4, taken: true },
      { observe: 104 + 2 ** 23 - 1, mid: 1007, con: false, k: 5, taken: true }, // just under half the space ahead
      { observe: 2 ** 24 - 2, mid: 1008, con: false, k: 6, taken: true },
      { observe: 2 ** 24 - 1, mid: 1009, con: true, k: 7, taken: true },
      { observe: 0, mid: 1010, con: false, k: 8, taken: true }, // wrapped: V1 > V2 and V1 − V2 > 2^23
      { observe: 1, mid: 1011, con: false, k: 9, taken: true },
      { observe: 2 ** 24 - 3, mid: 1012, con: false, k: 10, taken: false }, // from before the wrap
    ];
    const done = frames(coap, table.filter((r) => r.taken).length, 'the fresh notifications');
    for (const r of table) dev.notify({ observe: r.observe, mid: r.mid, confirmable: r.con, payload: P(r.k), maxAge: 3600 });
    await done;
    await sync(dev, 1013);

    // The 128 s rule: V2 = 0 is older than V1 = 1 by number, yet fresh once T2 > T1 + 128 s.
    timer.advance(128_000);
    dev.notify({ observe: 0, mid: 1014, confirmable: false, payload: P(11), maxAge: 3600 });
    await sync(dev, 1015);
    timer.advance(1);
    const late = frames(coap, 1, 'the notification after 128 s');
    dev.notify({ observe: 0, mid: 1016, confirmable: false, payload: P(12), maxAge: 3600 });
    await late;

    assert.deepEqual(await h.readings(), [0, ...table.filter((r) => r.taken).map((r) => r.k), 12].map(R));
    const m = coap.metrics();
    assert.equal(m.reordered, 4);
    assert.equal(m.duplicates, 1);
    // Every confirmable one acknowledged; the duplicate too, with the original's message ID.
    if (dev.acks.length < 4) await waitFor(dev.events, 'ack', () => dev.acks.length >= 4, `four ACKs, have ${JSON.stringify(dev.acks)}`);
    assert.deepEqual([...dev.acks].sort(), [1001, 1001, 1006, 1009]);
    assert.equal(coap.device('pwr-0001')?.lastObserve, 0);
  });

  test('a confirmable notification is acknowledged only once its reading is durable', async () => {
    const { h, dev, coap, sink } = await setup({}, true);
    await observing(coap, dev);
    sink.held = true;
    const arrived = waitFor(sink.arrived, 'frame', () => true, 'the frame at the sink');
    dev.notify({ observe: 101, mid: 2001, confirmable: true, payload: P(1), maxAge: 3600 });
    await arrived;
    await sync(dev, 2002); // anything the client sent before the probe's RST has arrived by now
    assert.deepEqual(dev.acks, [], 'no ACK while the reading is not durable');
    assert.deepEqual(await h.readings(), [R(0)]);

    const acked = waitFor(dev.events, 'ack', (mid: number) => mid === 2001, 'the ACK');
    sink.release();
    await acked;
    assert.deepEqual(await h.readings(), [R(0), R(1)], 'durable before the ACK went out');
  });

  test('while the log is behind, a full backlog leaves confirmable notifications unacknowledged; the retransmission is taken later', async () => {
    const { h, dev, coap, sink } = await setup({ maxBacklogPerDevice: 1 }, true);
    await observing(coap, dev);
    sink.full = true;
    dev.notify({ observe: 101, mid: 3001, confirmable: true, payload: P(1), maxAge: 3600 }); // waits in the backlog
    dev.notify({ observe: 102, mid: 3002, confirmable: true, payload: P(2), maxAge: 3600 }); // backlog full: refused
    dev.notify({ observe: 103, mid: 3003, confirmable: false, payload: P(3), maxAge: 3600 }); // non-confirmable: dropped
    await sync(dev, 3004);
    assert.deepEqual(dev.acks, []);
    assert.equal(coap.metrics().ackWithheld, 1);
    assert.equal(coap.metrics().droppedOverload, 1);

    const first = waitFor(dev.events, 'ack', (mid: number) => mid === 3001, 'the ACK of the queued notification');
    sink.drain();
    await first;
    const second = waitFor(dev.events, 'ack', (mid: number) => mid === 3002, 'the ACK of the retransmission');
    dev.notify({ observe: 102, mid: 3002, confirmable: true, payload: P(2), maxAge: 3600 }); // the device retransmits
    await second;
    assert.deepEqual(await h.readings(), [R(0), R(1), R(2)]);
  });
});

describe('CoAP ingest: what a misbehaving device cannot do', () => {
  test('malformed datagrams and unknown options neither crash the gateway nor end the observation', async () => {
    const { h, dev, coap } = await setup();
    await observing(coap, dev);
    dev.sendRaw(Buffer.from([0x40])); // a truncated header
    dev.sendRaw(Buffer.from([0x50, 0x45, 0x00, 0x01, 0xf0])); // option delta 15: reserved (RFC 7252 §3.1)
    dev.sendRaw(Buffer.from([0x51, 0x45, 0x00, 0x02, 0xde, 0xe1, 0x01])); // option length runs past the end
    dev.sendRaw(encodeMessage(1, [2, 5], 4000, Buffer.from('dead', 'hex'), [[10, Buffer.from([1])]], P(77)));
    await sync(dev, 4002);
    const next = frames(coap, 1, 'the next notification');
    // Option 10 (unassigned, elective) is not one node-coap-client knows: the notification is still taken.
    dev.notify({ observe: 101, mid: 4001, confirmable: false, payload: P(1), maxAge: 3600, options: [[10, Buffer.from([1])]] });
    await next;
    assert.deepEqual(await h.readings(), [R(0), R(1)]);
    assert.equal(coap.device('pwr-0001')?.state, 'observing');
  });

  test('an error response ends the observation with E_COAP_RESPONSE and a retry', async () => {
    const { dev, coap } = await setup();
    await observing(coap, dev);
    const failed = waitFor<[string, CoapIngestError]>(coap.events, 'failure', () => true, 'the failure');
    dev.notify({ mid: 5001, confirmable: false, payload: new Uint8Array(0), code: [4, 4] });
    const [, err] = await failed;
    assert.equal(err.code, 'E_COAP_RESPONSE');
    assert.equal(coap.device('pwr-0001')?.state, 'backoff');
    assert.equal(coap.metrics().responseErrors, 1);
  });

  test('a resource that is not observable is polled; an unchanged representation is not taken twice', async () => {
    const { h, dev, coap, timer } = await setup();
    dev.response = { mid: 1, confirmable: false, payload: P(0) }; // no Observe option: not registered (RFC 7641 §3.1)
    const polling = waitFor(coap.events, 'state', (_id: string, s: string) => s === 'polling', 'polling');
    const first = frames(coap, 1, 'the response');
    coap.start();
    await polling;
    await first;
    for (const [i, k] of [1, 1, 2].entries()) {
      dev.response = { mid: 1, confirmable: false, payload: P(k) };
      const polled = waitFor(dev.events, 'request', () => true, 'a poll');
      const taken = i === 1 ? null : frames(coap, 1, `poll ${i} durable`);
      timer.advance(profile.samplingIntervalMs);
      await polled;
      await sync(dev, 6000 + i); // the poll's response has been handled
      await taken;
    }
    assert.deepEqual(await h.readings(), [R(0), R(1), R(2)]);
    assert.equal(coap.metrics().polls, 3);
    assert.equal(coap.metrics().pollUnchanged, 1);
    assert.equal(coap.metrics().observationsActive, 0);
    assert.equal(coap.metrics().pollingActive, 1);
  });
});
