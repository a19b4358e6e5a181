/**
 * The Ingestor's de-duplication of readings (same device, metric and event
 * time), in process over a log whose appends the test commits or fails by
 * hand: a redelivery is acknowledged only once its original is durable, is
 * never written twice, and is taken afresh when the original's append failed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as flushed } from 'node:timers/promises';
import type { SourceRecord } from '../engine/types.ts';
import { builtinProfile, type DeviceProfile } from '../../devices/index.ts';
import { Ingestor, type DurableLog, type IngestOutcome, type QuarantineSink, type RawFrame } from './ingestor.ts';
import { RecentReadings } from './recent-readings.ts';

const T0 = Date.UTC(2026, 0, 1, 8);
const env = builtinProfile('env-sensor') as DeviceProfile;

/** A log whose appends wait until the test commits (or fails) them, like a group commit. */
class HeldLog implements DurableLog {
  readonly committed: SourceRecord[] = [];
  private held: { records: readonly SourceRecord[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  readonly writable = true;
  appendBatch(records: readonly SourceRecord[]): Promise<number> {
    return new Promise((resolve, reject) => this.held.push({ records: [...records], resolve, reject }));
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  /** Records appended and not yet committed. */
  get waiting(): number {
    return this.held.reduce((n, h) => n + h.records.length, 0);
  }
  commit(): void {
    for (const h of this.held.splice(0)) {
      h.resolve(this.committed.length + 1);
      this.committed.push(...h.records);
    }
  }
  fail(e: Error): void {
    for (const h of this.held.splice(0)) h.reject(e);
  }
  /** `device|metric|eventTime|value` per committed reading. */
  lines(): string[] {
    return this.committed.flatMap((r) => (r.type === 'reading' ? [`${r.reading.deviceId}|${r.reading.metric}|${r.reading.eventTime}|${r.reading.value}`] : []));
  }
}

const quarantined: QuarantineSink & { entries: number } = {
  entries: 0,
  quarantine(entries) {
    quarantined.entries += entries.length;
    return Promise.resolve({ ids: entries.map((_, i) => i) });
  },
};

let arrival = T0 + 10_000;
function frame(values: Record<string, number>, ts: number, deviceId = 'env-0001'): RawFrame {
  return {
    transport: 'mqtt', topicOrUri: `weir/${deviceId}/telemetry`, deviceId,
    payload: Buffer.from(JSON.stringify({ ts, ...values })), arrivalTime: arrival++,
  };
}

/** A submit whose settlement the test can look at without awaiting it. */
function track(p: Promise<IngestOutcome>): { p: Promise<IngestOutcome>; state: () => 'pending' | 'resolved' | 'rejected' } {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(() => void (s = 'resolved'), () => void (s = 'rejected'));
  return { p, state: () => s };
}

function setup(window = 1024, profiles: readonly DeviceProfile[] = [env]): { log: HeldLog; ing: Ingestor } {
  const log = new HeldLog();
  return { log, ing: new Ingestor({ profiles, log, quarantine: quarantined, quarantineDelayMs: 0, recent: window > 0 ? new RecentReadings(window) : null }) };
}

describe('ingestor: de-duplication of redelivered readings', () => {
  test('a duplicate of a reading whose append is pending resolves only after the original is durable, and is not written', async () => {
    const { log, ing } = setup();
    const a = track(ing.submit(frame({ temperature: 21 }, T0)));
    await flushed();
    const b = track(ing.submit(frame({ temperature: 21 }, T0))); // the redelivery, other arrival time
    await flushed();
    assert.equal(log.waiting, 1, 'one append only');
    assert.deepEqual([a.state(), b.state()], ['pending', 'pending'], 'the duplicate is not acknowledged before its original is durable');
    log.commit();
    assert.deepEqual(await a.p, { kind: 'accepted', readings: 1, lastOffset: 1 });
    assert.deepEqual(await b.p, { kind: 'accepted', readings: 0, lastOffset: -1 });
    assert.deepEqual(log.lines(), [`env-0001|temperature|${T0}|21`]);
    const c = ing.counters;
    assert.deepEqual([c.frames, c.readings, c.duplicates, c.byTransport.mqtt.frames, c.byTransport.mqtt.readings, c.byTransport.mqtt.duplicates], [2, 1, 1, 1, 1, 1]);
    // Once durable, a later duplicate resolves at once (nothing appended).
    assert.deepEqual(await ing.submit(frame({ temperature: 21 }, T0)), { kind: 'accepted', readings: 0, lastOffset: -1 });
    assert.equal(log.waiting, 0);
    assert.equal(ing.counters.duplicates, 2);
  });

  test('the original append fails: original and duplicate fail (no ack), and the next redelivery is taken afresh', async () => {
    const { log, ing } = setup();
    const a = track(ing.submit(frame({ temperature: 21, humidity: 40 }, T0)));
    await flushed();
    const b = track(ing.submit(frame({ temperature: 21 }, T0)));
    await flushed();
    log.fail(Object.assign(new Error('disk full'), { code: 'E_STATE_DISK_FULL' }));
    await assert.rejects(a.p, /disk full/);
    await assert.rejects(b.p, /disk full/, 'the duplicate is not acknowledged either');
    const c = track(ing.submit(frame({ temperature: 21, humidity: 40 }, T0)));
    await flushed();
    assert.equal(log.waiting, 2, 'both readings appended again');
    log.commit();
    assert.deepEqual(await c.p, { kind: 'accepted', readings: 2, lastOffset: 2 });
    assert.deepEqual(log.lines(), [`env-0001|temperature|${T0}|21`, `env-0001|humidity|${T0}|40`]);
    assert.equal(ing.counters.duplicates, 0, 'a failed duplicate is not counted');
  });

  test('a frame with new and duplicate readings writes the new ones; first value wins for the duplicates', async () => {
    const { log, ing } = setup();
    const a = ing.submit(frame({ temperature: 21, humidity: 40 }, T0));
    await flushed();
    log.commit();
    await a;
    // temperature at T0 again (another value: still the same point), pressure new; humidity at T0 + 5 s new.
    const b = ing.submit(frame({ temperature: 22.5, pressure: 101_000 }, T0));
    const c = ing.submit(frame({ humidity: 41 }, T0 + 5000));
    await flushed();
    log.commit();
    assert.deepEqual(await b, { kind: 'accepted', readings: 1, lastOffset: 3 });
    assert.deepEqual(await c, { kind: 'accepted', readings: 1, lastOffset: 4 });
    assert.deepEqual(log.lines(), [
      `env-0001|temperature|${T0}|21`, `env-0001|humidity|${T0}|40`, `env-0001|pressure|${T0}|101000`, `env-0001|humidity|${T0 + 5000}|41`,
    ]);
    assert.deepEqual([ing.counters.readings, ing.counters.duplicates, ing.counters.byTransport.mqtt.frames], [4, 1, 3]);
  });

  test('the same identity twice within one frame: written once', async () => {
    const { log, ing } = setup();
    const f: RawFrame = { ...frame({}, T0), payload: Buffer.from(JSON.stringify([{ ts: T0, temperature: 21 }, { ts: T0, temperature: 23 }])) };
    const a = ing.submit(f);
    await flushed();
    log.commit();
    assert.deepEqual(await a, { kind: 'accepted', readings: 1, lastOffset: 1 });
    assert.deepEqual(log.lines(), [`env-0001|temperature|${T0}|21`]);
  });

  test('other devices, metrics and times are not duplicates; the window forgets the oldest', async () => {
    const { log, ing } = setup(2);
    const all = [
      ing.submit(frame({ temperature: 1 }, T0, 'env-0001')),
      ing.submit(frame({ temperature: 2 }, T0, 'env-0002')),
      ing.submit(frame({ temperature: 3 }, T0 + 1, 'env-0002')),
    ];
    await flushed();
    log.commit();
    await Promise.all(all);
    // Window of 2: env-0001@T0 was forgotten, so its redelivery is logged again; env-0002@T0+1 is not.
    const again = [ing.submit(frame({ temperature: 1 }, T0, 'env-0001')), ing.submit(frame({ temperature: 3 }, T0 + 1, 'env-0002'))];
    await flushed();
    log.commit();
    await Promise.all(again);
    assert.equal(log.lines().length, 4);
    assert.equal(ing.counters.duplicates, 1);
  });

  test('a quarantined frame is not remembered: the fixed reading is taken', async () => {
    const { log, ing } = setup();
    const bad = await ing.submit(frame({ temperature: 999 }, T0));
    assert.equal(bad.kind, 'quarantined');
    const good = ing.submit(frame({ temperature: 21 }, T0));
    await flushed();
    log.commit();
    assert.equal((await good).kind, 'accepted');
    assert.deepEqual(log.lines(), [`env-0001|temperature|${T0}|21`]);
  });

  test('readings stamped with their arrival time are never de-duplicated (no identity of their own)', async () => {
    const arrivalOnly: DeviceProfile = { ...env, eventTime: { source: 'arrival' } };
    const { log, ing } = setup(1024, [arrivalOnly]);
    const f = { ...frame({}, T0), payload: Buffer.from(JSON.stringify({ temperature: 21 })) };
    const a = [ing.submit(f), ing.submit({ ...f }), ing.submit({ ...f, arrivalTime: f.arrivalTime + 1 })]; // the first two in the same ms
    await flushed();
    log.commit();
    assert.deepEqual((await Promise.all(a)).map((o) => o.kind), ['accepted', 'accepted', 'accepted']);
    assert.equal(log.lines().length, 3);
    assert.equal(ing.counters.duplicates, 0);
  });

  test('without a window (dedupWindow 0) every redelivery is written (at-least-once)', async () => {
    const { log, ing } = setup(0);
    const a = [ing.submit(frame({ temperature: 21 }, T0)), ing.submit(frame({ temperature: 21 }, T0))];
    await flushed();
    log.commit();
    await Promise.all(a);
    assert.equal(log.lines().length, 2);
    assert.equal(ing.counters.duplicates, 0);
  });
});
