import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { HeartbeatBody } from '../protocol.ts';
import type { CloudStorage, IngestBatch, IngestRecord } from './storage-types.ts';
import { anomalyRecord, indexed, seqs, windowRecord } from '../test-support.ts';

/**
 * The one contract every CloudStorage meets (STYLE habit 7);
 * storage.contract.test.ts runs it against SqliteStorage and PgStorage.
 */
export interface StorageTarget {
  readonly name: string;
  /** A fresh, empty storage. */
  open(): Promise<CloudStorage>;
  /** The same database opened again (after close). */
  reopen(): Promise<CloudStorage>;
  cleanup(): Promise<void>;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${String(e)}`;
  }
  return 'no error';
}

function ordered(records: IngestRecord[], skipped: [number, number][] = [], range?: [number, number]): IngestBatch {
  const all = [...records.map((r) => r.seq), ...skipped.flat()];
  return { lane: 'ordered', firstSeq: range?.[0] ?? Math.min(...all), lastSeq: range?.[1] ?? Math.max(...all), skipped, records };
}

function live(records: IngestRecord[]): IngestBatch {
  return { lane: 'live', firstSeq: records[0]!.seq, lastSeq: records[records.length - 1]!.seq, skipped: [], records };
}

const windows = (from: number, to: number): IngestRecord[] => seqs(from, to).map((s) => indexed(windowRecord(s)));

export const HEARTBEAT: HeartbeatBody = {
  v: 1, gatewayId: 'gw-a', sentAtMs: 5000,
  outbox: { rows: 7, bytes: 700, rowsByPriority: [1, 5, 1], oldestUnsentAgeMs: 1234, nextSeq: 20, ackedSeq: 12, overQuota: false },
  drops: { merges: 1, superseded: 2, dropped: [0, 3, 4], droppedBytes: 999 },
  watermarkLagMs: 50, versions: { weir: '0.1.0', wire: 1, node: 'v20' }, counters: { sentRecords: 12 },
};

export function runStorageContract(target: StorageTarget): void {
  describe(`CloudStorage contract: ${target.name}`, () => {
    let s: CloudStorage;
    let gw: number;
    beforeEach(async () => {
      s = await target.open();
      await s.addGateway('gw-a', 'hash-a', 1000);
      const p = await s.authenticate('hash-a');
      assert.ok(p !== null && p.role === 'gateway');
      gw = p.gatewayId;
    });
    afterEach(async () => {
      await s.close();
      await target.cleanup();
    });

    test('credentials: gateway, extra token, reader; names are unique; unknown hashes are nobody', async () => {
      assert.deepEqual(await s.authenticate('hash-a'), { role: 'gateway', gatewayId: gw, gateway: 'gw-a' });
      assert.equal(await codeOf(s.addGateway('gw-a', 'hash-other', 1)), 'E_EXISTS');
      await s.addGatewayToken('gw-a', 'hash-a2', 2000);
      assert.deepEqual(await s.authenticate('hash-a2'), { role: 'gateway', gatewayId: gw, gateway: 'gw-a' });
      assert.equal(await codeOf(s.addGatewayToken('nope', 'hash-x', 1)), 'E_NO_SUCH_GATEWAY');
      await s.addReader('ops', 'hash-r', 3000);
      assert.deepEqual(await s.authenticate('hash-r'), { role: 'reader', name: 'ops' });
      assert.equal(await codeOf(s.addReader('ops', 'hash-r2', 1)), 'E_EXISTS');
      assert.equal(await s.authenticate('hash-unknown'), null);
      assert.equal((await s.counts()).credentials, 3);
    });

    test('an ordered batch is stored once; its retry is all duplicates and changes nothing', async () => {
      assert.deepEqual(await s.ingest(gw, ordered(windows(1, 5)), 2000), { contiguousSeq: 5, highestSeq: 5, stored: 5, storedByKind: { window: 5 }, duplicates: 0, tombstoned: 0 });
      const before = await s.counts();
      assert.deepEqual(await s.ingest(gw, ordered(windows(1, 5)), 3000), { contiguousSeq: 5, highestSeq: 5, stored: 0, storedByKind: {}, duplicates: 5, tombstoned: 0 });
      const after = await s.counts();
      assert.deepEqual({ ...after, gatewayState: [] }, { ...before, gatewayState: [] });
      assert.equal(after.records, 5);
      // An overlapping batch: 4 and 5 are duplicates, 6..8 are new.
      assert.deepEqual(await s.ingest(gw, ordered(windows(4, 8)), 4000), { contiguousSeq: 8, highestSeq: 8, stored: 3, storedByKind: { window: 3 }, duplicates: 2, tombstoned: 0 });
    });

    test('an ordered batch starting past contiguous + 1 is E_SEQ_GAP with the contiguous seq, and stores nothing', async () => {
      await s.ingest(gw, ordered(windows(1, 3)), 2000);
      const before = await s.counts();
      let err: { code?: string; contiguousSeq?: number } = {};
      try {
        await s.ingest(gw, ordered(windows(5, 9)), 3000);
      } catch (e) {
        err = e as typeof err;
      }
      assert.equal(err.code, 'E_SEQ_GAP');
      assert.equal(err.contiguousSeq, 3);
      assert.deepEqual(await s.counts(), before);
      assert.equal((await s.seqStatus('gw-a', 5))!.state, 'missing');
    });

    test('skipped ranges become tombstones: contiguous passes them, seqStatus says dropped', async () => {
      const r = await s.ingest(gw, ordered([...windows(1, 2), ...windows(6, 6)], [[3, 5]]), 2000);
      assert.deepEqual(r, { contiguousSeq: 6, highestSeq: 6, stored: 3, storedByKind: { window: 3 }, duplicates: 0, tombstoned: 3 });
      assert.deepEqual((await s.seqStatus('gw-a', 4))!, { gateway: 'gw-a', seq: 4, state: 'dropped', contiguousSeq: 6, record: null });
      assert.deepEqual((await s.seqStatus('gw-a', 6))!, {
        gateway: 'gw-a', seq: 6, state: 'stored', contiguousSeq: 6, record: { kind: 'window', priority: 1, receivedAtMs: 2000, replayed: false },
      });
      assert.equal((await s.seqStatus('gw-a', 7))!.state, 'missing');
      assert.equal(await s.seqStatus('nope', 1), null);
      // A retry clips tombstones to what is new: nothing.
      assert.deepEqual(await s.ingest(gw, ordered([...windows(1, 2), ...windows(6, 6)], [[3, 5]]), 3000),
        { contiguousSeq: 6, highestSeq: 6, stored: 0, storedByKind: {}, duplicates: 3, tombstoned: 0 });
      assert.equal((await s.counts()).skips, 1);
      // A skipped-only batch.
      assert.deepEqual(await s.ingest(gw, ordered([], [[7, 9]]), 4000), { contiguousSeq: 9, highestSeq: 9, stored: 0, storedByKind: {}, duplicates: 0, tombstoned: 3 });
    });

    test('live lane: stored beyond contiguous; the ordered lane fills the gap and contiguous walks over them', async () => {
      await s.ingest(gw, ordered(windows(1, 2)), 2000);
      const a = [anomalyRecord(5), anomalyRecord(6), anomalyRecord(9)].map(indexed);
      assert.deepEqual(await s.ingest(gw, live(a), 2100), { contiguousSeq: 2, highestSeq: 9, stored: 3, storedByKind: { anomaly: 3 }, duplicates: 0, tombstoned: 0 });
      assert.deepEqual(await s.ingest(gw, live(a), 2200), { contiguousSeq: 2, highestSeq: 9, stored: 0, storedByKind: {}, duplicates: 3, tombstoned: 0 });
      // 3..4 arrive in order: contiguous walks over 5 and 6, stops before 7.
      assert.deepEqual(await s.ingest(gw, ordered(windows(3, 4)), 2300), { contiguousSeq: 6, highestSeq: 9, stored: 2, storedByKind: { window: 2 }, duplicates: 0, tombstoned: 0 });
      // The ordered lane sends 5..9 again (5, 6, 9 duplicates), and 7 skipped. 9 is above contiguous but there already: only 8 counts as stored.
      const b = ordered([a[0]!, a[1]!, indexed(windowRecord(8)), a[2]!], [[7, 7]]);
      assert.deepEqual(await s.ingest(gw, b, 2400), { contiguousSeq: 9, highestSeq: 9, stored: 1, storedByKind: { window: 1 }, duplicates: 3, tombstoned: 1 });
      assert.equal((await s.counts()).records, 8);
    });

    test('a live record at contiguous + 1 advances contiguous; a tombstone never hides a stored record', async () => {
      await s.ingest(gw, ordered(windows(1, 2)), 2000);
      assert.equal((await s.ingest(gw, live([indexed(anomalyRecord(3))]), 2100)).contiguousSeq, 3);
      await s.ingest(gw, live([indexed(anomalyRecord(6))]), 2200);
      const r = await s.ingest(gw, ordered([], [[4, 7]]), 2300);
      assert.equal(r.contiguousSeq, 7);
      assert.equal((await s.seqStatus('gw-a', 6))!.state, 'stored');
      assert.equal((await s.seqStatus('gw-a', 5))!.state, 'dropped');
    });

    test('contiguous walks across more than one page of live records', async () => {
      const many = seqs(2, 2600).map((q) => indexed(anomalyRecord(q)));
      for (let i = 0; i < many.length; i += 1000) await s.ingest(gw, live(many.slice(i, i + 1000)), 2000);
      assert.equal((await s.gateways('gw-a'))[0]!.contiguousSeq, 0);
      const r = await s.ingest(gw, ordered(windows(1, 1)), 3000);
      assert.deepEqual(r, { contiguousSeq: 2600, highestSeq: 2600, stored: 1, storedByKind: { window: 1 }, duplicates: 0, tombstoned: 0 });
    });

    test('gateways are isolated: the same seq from two gateways is two records', async () => {
      await s.addGateway('gw-b', 'hash-b', 1000);
      const b = await s.authenticate('hash-b');
      assert.ok(b !== null && b.role === 'gateway');
      await s.ingest(gw, ordered(windows(1, 3)), 2000);
      assert.deepEqual(await s.ingest(b.gatewayId, ordered(windows(1, 2)), 2000), { contiguousSeq: 2, highestSeq: 2, stored: 2, storedByKind: { window: 2 }, duplicates: 0, tombstoned: 0 });
      assert.equal((await s.counts()).records, 5);
      assert.deepEqual((await s.gateways()).map((g) => [g.name, g.contiguousSeq]), [['gw-a', 3], ['gw-b', 2]]);
    });

    test('heartbeats: the latest is kept with its time; lastSeen follows batches and heartbeats', async () => {
      assert.deepEqual(await s.heartbeat(gw, HEARTBEAT, 5000), { contiguousSeq: 0, highestSeq: 0 });
      await s.ingest(gw, ordered(windows(1, 4)), 6000);
      const g = (await s.gateways('gw-a'))[0]!;
      assert.deepEqual({ ...g, id: 0 }, {
        id: 0, name: 'gw-a', createdAtMs: 1000, contiguousSeq: 4, highestSeq: 4, lastSeenMs: 6000, heartbeat: HEARTBEAT, heartbeatAtMs: 5000, latestCheckpoint: null,
      });
      assert.deepEqual(await s.gateways('none'), []);
    });

    test('checkpoints: latest wins, older or equal ids are refused, two are kept', async () => {
      const meta = (id: number) => ({ checkpointId: id, consumedOffset: id * 100, committedAtMs: id * 1000, nextSeq: id * 10, stateRows: id, bytes: 3 });
      assert.equal(await s.latestCheckpoint('gw-a'), null);
      assert.equal(await s.putCheckpoint(gw, meta(3), Uint8Array.of(1, 2, 3), 7000), true);
      assert.equal(await s.putCheckpoint(gw, meta(3), Uint8Array.of(9, 9, 9), 7001), false);
      assert.equal(await s.putCheckpoint(gw, meta(2), Uint8Array.of(9, 9, 9), 7002), false);
      assert.equal(await s.putCheckpoint(gw, meta(5), Uint8Array.of(4, 5, 6), 8000), true);
      assert.equal(await s.putCheckpoint(gw, meta(6), Uint8Array.of(7, 8, 9), 9000), true);
      const latest = await s.latestCheckpoint('gw-a');
      assert.deepEqual({ meta: latest!.meta, body: Uint8Array.from(latest!.body) }, { meta: { ...meta(6), receivedAtMs: 9000 }, body: Uint8Array.of(7, 8, 9) });
      assert.equal((await s.counts()).checkpoints, 2);
      assert.deepEqual((await s.gateways('gw-a'))[0]!.latestCheckpoint, { ...meta(6), receivedAtMs: 9000 });
      assert.equal(await s.latestCheckpoint('nope'), null);
    });

    test('queryRecords: by kind, gateway, device, metric, pipeline and overlapping time, in seq order, limited', async () => {
      await s.addGateway('gw-b', 'hash-b', 1000);
      const b = await s.authenticate('hash-b');
      assert.ok(b !== null && b.role === 'gateway');
      const recs = [
        indexed(windowRecord(1, { start: 0, end: 10, deviceId: 'd1' })),
        indexed(windowRecord(2, { start: 10, end: 20, deviceId: 'd2' })),
        indexed(windowRecord(3, { start: 20, end: 30, deviceId: 'd1', metric: 'humidity' })),
        indexed(anomalyRecord(4, { deviceId: 'd1', eventTime: 15 })),
        indexed(windowRecord(5, { start: 0, end: 10, deviceId: 'd1', pipeline: 'q' })),
      ];
      assert.deepEqual((await s.ingest(gw, ordered(recs), 2000)).storedByKind, { window: 4, anomaly: 1 });
      await s.ingest(b.gatewayId, ordered([indexed(windowRecord(1, { start: 5, end: 15, deviceId: 'd1' }))]), 2000);
      const q = async (x: Partial<Parameters<CloudStorage['queryRecords']>[0]>) =>
        (await s.queryRecords({ kind: 'window', from: -1e15, to: 1e15, limit: 100, ...x })).map((r) => `${r.gateway}/${r.seq}`);
      assert.deepEqual(await q({}), ['gw-a/1', 'gw-a/2', 'gw-a/3', 'gw-a/5', 'gw-b/1']);
      assert.deepEqual(await q({ gateway: 'gw-b' }), ['gw-b/1']);
      assert.deepEqual(await q({ deviceId: 'd1' }), ['gw-a/1', 'gw-a/3', 'gw-a/5', 'gw-b/1']);
      assert.deepEqual(await q({ deviceId: 'd1', metric: 'humidity' }), ['gw-a/3']);
      assert.deepEqual(await q({ pipeline: 'q' }), ['gw-a/5']);
      assert.deepEqual(await q({ from: 10, to: 20 }), ['gw-a/2', 'gw-b/1']);
      assert.deepEqual(await q({ limit: 2 }), ['gw-a/1', 'gw-a/2']);
      assert.deepEqual(await q({ kind: 'anomaly' }), ['gw-a/4']);
      const [one] = await s.queryRecords({ kind: 'anomaly', from: 0, to: 100, limit: 1 });
      assert.deepEqual({ ...one!, payload: Uint8Array.from(one!.payload) }, {
        gateway: 'gw-a', seq: 4, kind: 'anomaly', priority: 0, series: recs[3]!.series, tStart: 15, tEnd: 16, replayed: false, receivedAtMs: 2000,
        pipeline: 'anomalies', deviceId: 'd1', metric: 'temperature', payload: Uint8Array.from(recs[3]!.payload),
      });
    });

    test('every column of a record comes back as sent: seqs past 2^32, negative and fractional times, non-ASCII text, nulls, payload sizes', async () => {
      const big = 2 ** 32 + 5;
      const degrade: IngestRecord = {
        seq: 1, kind: 'degrade', priority: 0, series: 'ß/温度/🙂', tStart: -1.5, tEnd: 0.25, payload: new Uint8Array(0), replayed: true,
        pipeline: null, deviceId: null, metric: null,
      };
      const window = indexed(windowRecord(big, { start: 1767225600000, end: 1767225610000, deviceId: 'Gerät ü', metric: 'temp°' }));
      const large = { ...window, seq: big + 1, payload: Uint8Array.from({ length: 100_000 }, (_, i) => i % 251) };
      const nowMs = 1767225600123;
      assert.equal((await s.ingest(gw, ordered([degrade, window, large], [[2, big - 1]]), nowMs)).contiguousSeq, big + 1);
      const got = [
        ...await s.queryRecords({ kind: 'degrade', from: -10, to: 10, limit: 10 }),
        ...await s.queryRecords({ kind: 'window', from: 0, to: 2e12, limit: 10 }),
      ].map((r) => ({ ...r, payload: Uint8Array.from(r.payload) }));
      const stored = (r: IngestRecord) => ({
        gateway: 'gw-a', seq: r.seq, kind: r.kind, priority: r.priority, series: r.series, tStart: r.tStart, tEnd: r.tEnd, replayed: r.replayed,
        receivedAtMs: nowMs, pipeline: r.pipeline, deviceId: r.deviceId, metric: r.metric, payload: Uint8Array.from(r.payload),
      });
      assert.deepEqual(got, [stored(degrade), stored(window), stored(large)]);
      assert.equal(window.deviceId, 'Gerät ü');
    });

    test('ping answers while the database is open, and fails once it is closed', async () => {
      await s.ping();
      await s.close();
      await assert.rejects(s.ping());
      s = await target.reopen();
      await s.ping();
    });

    test('what was stored survives close and reopen', async () => {
      await s.ingest(gw, ordered(windows(1, 3), [[4, 4]]), 2000);
      await s.close();
      s = await target.reopen();
      assert.equal((await s.gateways('gw-a'))[0]!.contiguousSeq, 4);
      assert.equal((await s.counts()).records, 3);
      assert.deepEqual(await s.authenticate('hash-a'), { role: 'gateway', gatewayId: gw, gateway: 'gw-a' });
    });
  });
}
