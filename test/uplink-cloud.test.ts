/**
 * The edge uplink against a real cloud-sync service on 127.0.0.1 (SQLite
 * backend): exactly-once delivery in seq order with trimming, backoff with
 * full jitter and Retry-After, lost acks, degrade tombstones, live-first
 * and the bandwidth cap, seq-reuse detection. Timers are injected; the test
 * advances them when the uplink reports what it waits for.
 */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { tempDir } from '../edge-runtime/state/test-support.ts';
import { ManualTimer } from '../cloud-sync/clock.ts';
import { startTestCloud, type TestCloud } from './support/cloud-harness.ts';
import { anomalyOut, commitRows, drainWithRetries, lateOut, uplinkFor, windowOut } from './support/outbox-fill.ts';
import type { Uplink } from '../edge-runtime/uplink/uplink.ts';
import type { UplinkEvent } from '../edge-runtime/uplink/uplink-types.ts';

async function cloudSeqs(cloud: TestCloud, kind = 'window'): Promise<number[]> {
  return (await cloud.storage.queryRecords({ kind, from: -1e15, to: 1e15, limit: 1e6 })).map((r) => r.seq);
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('uplink → cloud-sync (SQLite), over 127.0.0.1', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: TestCloud;
  let store: LocalStateStore;
  let timer: ManualTimer;
  let uplink: Uplink | null;

  beforeEach(async () => {
    tmp = tempDir();
    cloud = await startTestCloud('sqlite');
    store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
    timer = new ManualTimer(1_000_000);
    uplink = null;
  });
  afterEach(async () => {
    await uplink?.stop();
    await store.close();
    await cloud.close();
    tmp.cleanup();
  });

  test('drains a full outbox: every row exactly once, in seq order; acked rows are trimmed on the edge', async () => {
    for (let c = 0; c < 5; c++) await commitRows(store, range(c * 500, c * 500 + 499).map((i) => windowOut(i)), 1_000_000);
    uplink = uplinkFor(store, cloud, timer);
    const done = drainWithRetries(uplink, timer);
    uplink.start();
    const events = await done;
    assert.deepEqual(events.filter((e) => e.type === 'acked').map((e) => e.type === 'acked' && [e.lane, e.firstSeq, e.lastSeq]),
      [['ordered', 1, 500], ['ordered', 501, 1000], ['ordered', 1001, 1500], ['ordered', 1501, 2000], ['ordered', 2001, 2500]]);
    assert.deepEqual(await cloudSeqs(cloud), range(1, 2500));
    const st = await store.outboxStats(0);
    assert.deepEqual([st.rows, st.ackedSeq], [0, 2500]);
    assert.deepEqual([uplink.stats.stored, uplink.stats.duplicates, uplink.stats.contiguousSeq], [2500, 0, 2500]);
  });

  test('500, 429 with Retry-After, a dropped connection and a lost ack: backoff with full jitter, then every row once', async () => {
    await commitRows(store, range(1, 1200).map((i) => windowOut(i)), 1_000_000);
    cloud.faults.push({ status: 500 }, { status: 429, retryAfter: '7' }, { drop: 'before' }, { status: 503 }, { drop: 'after' });
    uplink = uplinkFor(store, cloud, timer, { backoff: { baseMs: 1000, maxMs: 60_000 }, maxInFlight: 1 });
    const done = drainWithRetries(uplink, timer);
    uplink.start();
    const events = await done;
    // random() = 0.5: failure n waits 0.5 × min(60 s, 1 s × 2^n); Retry-After is taken as given and does not count.
    // The fifth try of the first batch is stored, but its ack is lost.
    assert.deepEqual(events.filter((e) => e.type === 'failed').map((e) => e.type === 'failed' && [e.code, e.delayMs]), [
      ['E_INTERNAL', 500], ['E_UNAVAILABLE', 7000], ['E_UPLINK_NETWORK', 1000], ['E_INTERNAL', 2000], ['E_UPLINK_NETWORK', 4000],
    ]);
    assert.deepEqual(await cloudSeqs(cloud), range(1, 1200));
    // The batch whose ack was lost came back as 500 duplicates; the uplink saw 700 newly stored.
    assert.deepEqual([uplink.stats.stored, uplink.stats.duplicates], [700, 500]);
    assert.equal((await store.outboxStats(0)).rows, 0);
  });

  test('two batches in flight: one that overtakes its predecessor is refused with E_SEQ_GAP and simply sent again', async () => {
    await commitRows(store, range(1, 1500).map((i) => windowOut(i)), 1_000_000);
    let release: () => void = () => {};
    cloud.faults.push({ hold: new Promise<void>((r) => (release = r)) }); // batch 1 waits at the door
    uplink = uplinkFor(store, cloud, timer, { maxInFlight: 2 });
    const events: UplinkEvent[] = [];
    uplink.onEvent((e) => events.push(e));
    const idle = uplink.waitFor((e) => e.type === 'idle');
    uplink.start();
    while (!cloud.statuses.includes(409)) await new Promise<void>((r) => setImmediate(r)); // batch 2 arrived first and was refused
    release();
    await idle;
    assert.deepEqual(events.filter((e) => e.type === 'acked').map((e) => e.type === 'acked' && [e.firstSeq, e.lastSeq]), [[1, 500], [501, 1000], [1001, 1500]]);
    assert.ok(cloud.seen.length >= 4, `${cloud.seen.length} requests: batch 2 at least twice`);
    assert.deepEqual([uplink.stats.failures, uplink.stats.duplicates], [0, 0]);
    assert.deepEqual(await cloudSeqs(cloud), range(1, 1500));
  });

  test('rows the outbox removed under quota are sent as skipped: the cloud tombstones them and its contiguous seq passes them', async () => {
    await store.close();
    store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL', outbox: { maxBytes: 40_000, lowWaterRatio: 0.5 } });
    await commitRows(store, range(1, 150).map((i) => lateOut(i)), 1_000_000); // ~350 B each: over quota, the oldest go
    await commitRows(store, range(1, 10).map((i) => windowOut(i)), 1_000_001);
    const st = await store.outboxStats(0);
    assert.ok(st.degradeTotals.dropped[2] > 0, 'the quota dropped raw rows');
    const kept = (await store.readOutbox({ afterSeq: 0, limit: 1000 })).map((r) => r.seq);
    uplink = uplinkFor(store, cloud, timer, { batch: { maxRecords: 1000, maxAgeMs: 0 } });
    const done = drainWithRetries(uplink, timer);
    uplink.start();
    await done;
    const last = st.nextSeq - 1;
    const gw = (await cloud.storage.gateways('gw-a'))[0]!;
    assert.deepEqual([gw.contiguousSeq, (await cloud.storage.counts()).records], [last, kept.length]);
    for (let seq = 1; seq <= last; seq++) {
      const s = await cloud.storage.seqStatus('gw-a', seq);
      assert.equal(s!.state, kept.includes(seq) ? 'stored' : 'dropped', `seq ${seq}`);
    }
    assert.equal(uplink.stats.tombstoned, last - kept.length);
  });

  test('live first: after an outage new anomalies go up before the backlog, which drains at the bandwidth cap, marked replayed', async () => {
    await commitRows(store, range(1, 1500).map((i) => windowOut(i)), 900_000); // written before the uplink started: backlog
    uplink = uplinkFor(store, cloud, timer, { backlogBytesPerSec: 20_000 });
    const events: UplinkEvent[] = [];
    uplink.onEvent((e) => events.push(e));
    const firstBacklog = uplink.waitFor((e) => e.type === 'acked' && e.lane === 'ordered');
    await commitRows(store, [anomalyOut(1), anomalyOut(2)], 1_000_000); // seqs 1501, 1502
    uplink.start();
    const b1 = await firstBacklog;
    assert.ok(b1.type === 'acked');
    // The anomalies went first, on the live lane.
    assert.deepEqual(events.filter((e) => e.type === 'acked').map((e) => e.type === 'acked' && [e.lane, e.firstSeq, e.lastSeq]),
      [['live', 1501, 1502], ['ordered', 1, 500]]);
    // The next backlog batch waits for the cap: wireBytes / 20,000 B/s.
    const w = await uplink.waitFor((e) => e.type === 'waiting');
    assert.deepEqual(w, { type: 'waiting', reason: 'pace', ms: Math.ceil((b1.wireBytes * 1000) / 20_000) });
    // A new anomaly while the backlog waits is sent at once, without moving time.
    const live2 = uplink.waitFor((e) => e.type === 'acked' && e.lane === 'live');
    await commitRows(store, [anomalyOut(3)], 1_000_000);
    uplink.notify();
    const l2 = await live2;
    assert.ok(l2.type === 'acked' && l2.firstSeq === 1503);
    const done = drainWithRetries(uplink, timer, (e) => e.type === 'idle');
    timer.advance(timer.nextDue! - timer.now()); // the pace wait armed before the live batch (not re-announced)
    await done;
    assert.deepEqual(await cloudSeqs(cloud), range(1, 1500));
    assert.deepEqual(await cloudSeqs(cloud, 'anomaly'), [1501, 1502, 1503]);
    assert.equal((await cloud.storage.seqStatus('gw-a', 10))!.record!.replayed, true);
    assert.equal((await cloud.storage.seqStatus('gw-a', 1503))!.record!.replayed, false);
    // The ordered lane never sent them again: the cloud's contiguous seq walked over them once 1..1500 were in.
    assert.equal(uplink.stats.duplicates, 0);
    assert.equal((await store.outboxStats(0)).rows, 0);
  });

  test('a partial batch waits until its oldest row is maxAgeMs old; an anomaly goes at once', async () => {
    uplink = uplinkFor(store, cloud, timer, { batch: { maxRecords: 500, maxAgeMs: 2000 } });
    const idle = uplink.waitFor((e) => e.type === 'idle');
    uplink.start();
    await idle;
    await commitRows(store, range(1, 10).map((i) => windowOut(i)), timer.now() - 500);
    const waiting = uplink.waitFor((e) => e.type === 'waiting' && e.reason === 'age');
    uplink.notify();
    assert.deepEqual(await waiting, { type: 'waiting', reason: 'age', ms: 1500 });
    const sent = uplink.waitFor((e) => e.type === 'acked');
    timer.advance(1500);
    const a = await sent;
    assert.deepEqual(a.type === 'acked' && [a.firstSeq, a.lastSeq], [1, 10]);
    await uplink.waitFor((e) => e.type === 'idle');
    await commitRows(store, [anomalyOut(1)], timer.now());
    const now = uplink.waitFor((e) => e.type === 'acked');
    uplink.notify();
    const b = await now;
    assert.deepEqual(b.type === 'acked' && [b.firstSeq, b.lastSeq], [11, 11]);
  });

  test('batches over the service\'s body limit (413) are halved until they fit', async () => {
    await cloud.close();
    cloud = await startTestCloud('sqlite', { limits: { body: { maxBytes: 20_000 } } });
    await commitRows(store, range(1, 1000).map((i) => windowOut(i)), 1_000_000);
    uplink = uplinkFor(store, cloud, timer, { batch: { maxRecords: 1000, maxAgeMs: 0 }, compressionLevel: 0 });
    const done = drainWithRetries(uplink, timer);
    uplink.start();
    await done;
    assert.ok(uplink.stats.batchShrinks >= 2, `${uplink.stats.batchShrinks} shrinks`);
    assert.deepEqual(await cloudSeqs(cloud), range(1, 1000));
  });

  test('a gateway whose outbox was reset stops with E_UPLINK_SEQ_REUSED instead of losing its rows as duplicates', async () => {
    await commitRows(store, range(1, 20).map((i) => windowOut(i)), 1_000_000);
    uplink = uplinkFor(store, cloud, timer);
    let done = drainWithRetries(uplink, timer);
    uplink.start();
    await done;
    await uplink.stop();
    // The disk is wiped; a fresh outbox starts at seq 1 again with the same credential.
    const wiped = await LocalStateStore.open({ path: tmp.file('wiped.db'), synchronous: 'NORMAL' });
    await commitRows(wiped, range(100, 104).map((i) => windowOut(i)), 1_000_000);
    uplink = uplinkFor(wiped, cloud, timer);
    const fatal = uplink.waitFor((e) => e.type === 'fatal');
    uplink.start();
    const f = await fatal;
    assert.equal(f.type === 'fatal' && f.code, 'E_UPLINK_SEQ_REUSED');
    assert.equal((await wiped.outboxStats(0)).rows, 5, 'nothing was trimmed');
    await uplink.stop();
    uplink = null;
    await wiped.close();
    done = Promise.resolve([]);
  });

  test('heartbeats carry the outbox figures to fleet status; a snapshot goes up once per new checkpoint', async () => {
    await commitRows(store, range(1, 30).map((i) => windowOut(i)), 999_000, [{ ns: 'stats/1', key: 'k', value: Uint8Array.of(7) }]);
    uplink = uplinkFor(store, cloud, timer, { heartbeatIntervalMs: 60_000, snapshotIntervalMs: 300_000, figures: () => ({ watermarkLagMs: 1234 }) });
    const events: UplinkEvent[] = [];
    uplink.onEvent((e) => events.push(e));
    const idle = uplink.waitFor((e) => e.type === 'idle');
    uplink.start();
    await idle;
    assert.deepEqual(events.map((e) => e.type), ['heartbeat', 'snapshot', 'acked', 'idle']);
    const fleet = (await cloud.storage.gateways('gw-a'))[0]!;
    assert.deepEqual([fleet.heartbeat!.outbox.rows, fleet.heartbeat!.outbox.nextSeq, fleet.heartbeat!.outbox.oldestUnsentAgeMs, fleet.heartbeat!.watermarkLagMs],
      [30, 31, 1000, 1234]);
    assert.deepEqual([fleet.latestCheckpoint!.checkpointId, fleet.latestCheckpoint!.stateRows], [1, 1]);
    // Next period: a new heartbeat (outbox empty now); no new checkpoint, so no snapshot.
    const hb2 = uplink.waitFor((e) => e.type === 'heartbeat');
    timer.advance(60_000);
    await hb2;
    assert.equal((await cloud.storage.gateways('gw-a'))[0]!.heartbeat!.outbox.rows, 0);
    timer.advance(240_000);
    await uplink.waitFor((e) => e.type === 'heartbeat');
    assert.equal(events.filter((e) => e.type === 'snapshot').length, 1);
  });
});
