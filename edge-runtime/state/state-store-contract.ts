import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { SourceRecord } from '../engine/types.ts';
import type { OutboxInput, StateStore, StateStoreOptions } from './store-types.ts';
import { SCHEMA_VERSION } from './schema.ts';
import { collect, makeRecords, tempDir, u8 } from './test-support.ts';

/**
 * The one contract every StateStore implementation must meet (STYLE habit
 * 7); state-store.contract.test.ts runs it against LocalStateStore and
 * WorkerStateStore.
 */
export interface ContractTarget {
  readonly name: string;
  open(options: StateStoreOptions): Promise<StateStore>;
}

function out(priority: 0 | 1 | 2, series: string, t: number, payload: number[]): OutboxInput {
  return { priority, kind: priority === 0 ? 'anomaly' : priority === 1 ? 'aggregate' : 'late', series, tStart: t, tEnd: t + 10, payload: Uint8Array.from(payload) };
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

export function runStateStoreContract(target: ContractTarget): void {
  describe(`StateStore contract: ${target.name}`, () => {
    let tmp: ReturnType<typeof tempDir>;
    const open: StateStore[] = [];
    const openStore = async (options: Partial<StateStoreOptions> = {}, name = 'state.db'): Promise<StateStore> => {
      const s = await target.open({ path: tmp.file(name), synchronous: 'NORMAL', ...options });
      open.push(s);
      return s;
    };
    beforeEach(() => {
      tmp = tempDir();
    });
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
      tmp.cleanup();
    });

    test('a new file reports its schema version and no events', async () => {
      const s = await openStore();
      assert.deepEqual(s.openReport, { path: tmp.file('state.db'), foundSchemaVersion: 0, schemaVersion: SCHEMA_VERSION, events: [] });
    });

    test('segments round-trip exactly, with consecutive offsets from 1', async () => {
      const s = await openStore();
      const batches = [makeRecords(500, 1), makeRecords(1, 2), makeRecords(300, 3, { awkward: true })];
      const results = [];
      for (const b of batches) results.push(await s.appendSegment(b, 1000));
      assert.deepEqual(results, [
        { firstOffset: 1, lastOffset: 500 }, { firstOffset: 501, lastOffset: 501 }, { firstOffset: 502, lastOffset: 801 },
      ]);
      const segs = await collect(s.readFrom(1, { pageSegments: 2 }));
      assert.deepEqual(segs.map((g) => [g.firstOffset, g.lastOffset, g.createdAtMs]), [[1, 500, 1000], [501, 501, 1000], [502, 801, 1000]]);
      assert.deepEqual(segs.flatMap((g) => g.records), batches.flat());
    });

    test('readFrom mid-segment starts at the asked offset; past the end yields nothing', async () => {
      const s = await openStore();
      const recs = makeRecords(100, 4);
      await s.appendSegment(recs.slice(0, 60));
      await s.appendSegment(recs.slice(60));
      const segs = await collect(s.readFrom(42));
      assert.deepEqual(segs.map((g) => [g.firstOffset, g.lastOffset, g.records.length]), [[42, 60, 19], [61, 100, 40]]);
      assert.deepEqual(segs.flatMap((g) => g.records), recs.slice(41));
      assert.deepEqual(await collect(s.readFrom(101)), []);
      assert.equal(await errorCode(collect(s.readFrom(0))), 'E_STATE_ARGUMENT');
    });

    test('an empty batch writes nothing and takes no offset', async () => {
      const s = await openStore();
      assert.deepEqual(await s.appendSegment([]), { firstOffset: 1, lastOffset: 0 });
      assert.deepEqual(await s.appendSegment(makeRecords(2)), { firstOffset: 1, lastOffset: 2 });
      assert.equal((await s.logStats()).segments, 1);
    });

    test('offsets are never reused: not after a restart, not after trimming the log to empty', async () => {
      let s = await openStore();
      await s.appendSegment(makeRecords(10, 1));
      await s.appendSegment(makeRecords(20, 2));
      await s.close();
      s = await openStore();
      assert.deepEqual(await s.appendSegment(makeRecords(5, 3)), { firstOffset: 31, lastOffset: 35 });
      await s.commitCheckpoint({ checkpointId: 1, consumedOffset: 35, stateUpserts: [], stateDeletes: [], outbox: [] });
      const trim = await s.trimLog({ consumedOffset: 35, maxBytes: 0 });
      assert.equal(trim.deletedSegments, 3);
      assert.equal(trim.deletedRecords, 35);
      assert.deepEqual(await s.logStats(), { segments: 0, records: 0, bytes: 0, nextOffset: 36, firstOffset: 36, oldestCreatedAtMs: null });
      await s.close();
      s = await openStore();
      assert.equal(await errorCode(collect(s.readFrom(1))), 'E_LOG_TRIMMED');
      assert.deepEqual(await s.appendSegment(makeRecords(1, 4)), { firstOffset: 36, lastOffset: 36 });
    });

    test('trimLog deletes only whole segments at or below the checkpoint, and reports pressure instead of touching unconsumed data', async () => {
      const s = await openStore();
      for (let i = 0; i < 4; i++) await s.appendSegment(makeRecords(10, i), 1000 + i);
      const total = (await s.logStats()).bytes;
      // The caller claims 40 consumed, but the checkpoint says 15: 15 cuts segment 2 (11..20) in half.
      await s.commitCheckpoint({ checkpointId: 1, consumedOffset: 15, stateUpserts: [], stateDeletes: [], outbox: [] });
      const r = await s.trimLog({ consumedOffset: 40, maxBytes: 0 });
      assert.equal(r.consumedOffset, 15);
      assert.equal(r.deletedSegments, 1);
      assert.equal(r.deletedRecords, 10);
      assert.equal(r.pressure, true);
      assert.equal(r.unconsumedBytes, total - r.deletedBytes);
      assert.deepEqual((await collect(s.readFrom(11))).map((g) => g.firstOffset), [11, 21, 31]);
    });

    test('trimLog by age keeps young consumed segments', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(5, 1), 1000);
      await s.appendSegment(makeRecords(5, 2), 5000);
      await s.appendSegment(makeRecords(5, 3), 9000);
      await s.commitCheckpoint({ checkpointId: 1, consumedOffset: 15, stateUpserts: [], stateDeletes: [], outbox: [] });
      const r = await s.trimLog({ consumedOffset: 15, maxAgeMs: 4000, nowMs: 9500 });
      assert.deepEqual([r.deletedSegments, r.pressure], [2, false]);
      assert.equal((await s.logStats()).firstOffset, 11);
    });

    test('a checkpoint writes state, offset and outbox together; loadState iterates by (ns, key)', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(10));
      const r1 = await s.commitCheckpoint({
        checkpointId: 7, consumedOffset: 4, nowMs: 100,
        stateUpserts: [
          { ns: 'win', key: 'b', value: Uint8Array.from([2]) },
          { ns: 'win', key: 'a', value: Uint8Array.from([1]) },
          { ns: 'det', key: 'z', value: Uint8Array.from([9, 9]) },
        ],
        stateDeletes: [],
        outbox: [out(1, 's1', 0, [1]), out(0, 's2', 0, [2])],
      });
      assert.deepEqual([r1.firstSeq, r1.lastSeq], [1, 2]);
      const r2 = await s.commitCheckpoint({
        checkpointId: 8, consumedOffset: 10, nowMs: 200,
        stateUpserts: [{ ns: 'win', key: 'a', value: Uint8Array.from([3]) }],
        stateDeletes: [{ ns: 'win', key: 'b' }],
        outbox: [],
      });
      assert.deepEqual([r2.firstSeq, r2.lastSeq], [3, 2]);
      assert.deepEqual(await s.loadCheckpoint(), { checkpointId: 8, consumedOffset: 10, committedAtMs: 200 });
      const all = (await collect(s.loadState())).map((r) => [r.ns, r.key, [...r.value]]);
      assert.deepEqual(all, [['det', 'z', [9, 9]], ['win', 'a', [3]]]);
      assert.deepEqual((await collect(s.loadState('win'))).map((r) => r.key), ['a']);
    });

    test('loadState pages through many rows in order', async () => {
      const s = await openStore();
      const rows = Array.from({ length: 5000 }, (_, i) => ({ ns: i % 2 === 0 ? 'even' : 'odd', key: `k${String(i).padStart(5, '0')}`, value: Uint8Array.from([i & 255]) }));
      await s.commitCheckpoint({ checkpointId: 1, consumedOffset: 0, stateUpserts: rows, stateDeletes: [], outbox: [] });
      const got = await collect(s.loadState());
      assert.equal(got.length, 5000);
      assert.deepEqual(got.map((r) => `${r.ns}/${r.key}`), rows.map((r) => `${r.ns}/${r.key}`).sort());
      assert.equal((await collect(s.loadState('odd'))).length, 2500);
    });

    test('a checkpoint that fails inside its transaction leaves nothing behind', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(3));
      await s.commitCheckpoint({ checkpointId: 1, consumedOffset: 1, stateUpserts: [{ ns: 'n', key: 'k', value: Uint8Array.from([1]) }], stateDeletes: [], outbox: [out(1, 's', 0, [1])] });
      // State is written first, then the outbox; the reserved kind makes the outbox step throw.
      const bad = { ...out(1, 's', 0, [2]), kind: 'degrade' };
      const code = await errorCode(s.commitCheckpoint({ checkpointId: 2, consumedOffset: 3, stateUpserts: [{ ns: 'n', key: 'k', value: Uint8Array.from([2]) }, { ns: 'n', key: 'new', value: Uint8Array.from([3]) }], stateDeletes: [], outbox: [out(0, 's', 0, [5]), bad] }));
      assert.equal(code, 'E_STATE_ARGUMENT');
      assert.deepEqual(await s.loadCheckpoint(), { checkpointId: 1, consumedOffset: 1, committedAtMs: (await s.loadCheckpoint())!.committedAtMs });
      assert.deepEqual((await collect(s.loadState())).map((r) => [r.key, [...r.value]]), [['k', [1]]]);
      const stats = await s.outboxStats();
      assert.deepEqual([stats.rows, stats.nextSeq], [1, 2]);
      const r = await s.commitCheckpoint({ checkpointId: 2, consumedOffset: 3, stateUpserts: [], stateDeletes: [], outbox: [out(2, 's', 0, [7])] });
      assert.equal(r.firstSeq, 2);
    });

    test('checkpoint arguments are checked: ids increase, offsets never go back or past the log', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(5));
      const base = { stateUpserts: [], stateDeletes: [], outbox: [] };
      await s.commitCheckpoint({ checkpointId: 5, consumedOffset: 3, ...base });
      const cases: [number, number][] = [[5, 4], [6, 2], [6, 6], [Number.NaN, 4]];
      for (const [id, off] of cases) {
        assert.equal(await errorCode(s.commitCheckpoint({ checkpointId: id, consumedOffset: off, ...base })), 'E_STATE_ARGUMENT', `id ${id} offset ${off}`);
      }
      assert.equal(await s.loadCheckpoint().then((c) => c?.checkpointId), 5);
    });

    test('spill: put, get aligned with keys, delete, clear', async () => {
      const s = await openStore();
      await s.spillPut('op1', [{ key: 'a', value: Uint8Array.from([1]) }, { key: 'b', value: Uint8Array.from([2, 2]) }]);
      await s.spillPut('op2', [{ key: 'a', value: Uint8Array.from([9]) }]);
      await s.spillPut('op1', [{ key: 'a', value: Uint8Array.from([5]) }]);
      assert.deepEqual((await s.spillGet('op1', ['b', 'x', 'a'])).map(u8), [Uint8Array.from([2, 2]), null, Uint8Array.from([5])]);
      assert.equal(await s.spillDelete('op1', ['a', 'x']), 1);
      assert.deepEqual((await s.spillGet('op1', ['a', 'b'])).map(u8), [null, Uint8Array.from([2, 2])]);
      assert.equal(await s.spillClear('op2'), 1);
      assert.equal(await s.spillClear(), 1);
      assert.deepEqual(await collect(s.loadState()), [], 'spill never leaks into checkpointed state');
    });

    test('outbox: seqs increase, reads filter by seq, priority and bytes, acks trim, seqs survive ack-all and restart', async () => {
      let s = await openStore();
      await s.commitCheckpoint({
        checkpointId: 1, consumedOffset: 0, nowMs: 1000,
        outbox: [out(2, 'a', 0, [1, 1]), out(1, 'a', 10, [2]), out(0, 'b', 0, [3]), out(1, 'b', 10, [4, 4, 4])],
        stateUpserts: [], stateDeletes: [],
      });
      const all = await s.readOutbox({ afterSeq: 0, limit: 10 });
      assert.deepEqual(all.map((r) => [r.seq, r.priority, r.kind, r.series, r.tStart, r.tEnd, r.createdAtMs, [...r.payload]]), [
        [1, 2, 'late', 'a', 0, 10, 1000, [1, 1]], [2, 1, 'aggregate', 'a', 10, 20, 1000, [2]],
        [3, 0, 'anomaly', 'b', 0, 10, 1000, [3]], [4, 1, 'aggregate', 'b', 10, 20, 1000, [4, 4, 4]],
      ]);
      assert.deepEqual((await s.readOutbox({ afterSeq: 1, limit: 2 })).map((r) => r.seq), [2, 3]);
      assert.deepEqual((await s.readOutbox({ afterSeq: 0, limit: 10, minPriority: 1 })).map((r) => r.seq), [2, 3, 4]);
      assert.deepEqual((await s.readOutbox({ afterSeq: 0, limit: 10, minPriority: 0 })).map((r) => r.seq), [3]);
      const b1 = all[0]!.bytes;
      assert.deepEqual((await s.readOutbox({ afterSeq: 0, limit: 10, maxBytes: b1 + all[1]!.bytes })).map((r) => r.seq), [1, 2]);
      assert.deepEqual((await s.readOutbox({ afterSeq: 0, limit: 10, maxBytes: 1 })).map((r) => r.seq), [1], 'one row even if larger than maxBytes');
      let st = await s.outboxStats(1500);
      assert.deepEqual([st.rows, st.rowsByPriority, st.oldestUnsentAgeMs, st.nextSeq, st.ackedSeq, st.overQuota], [4, [1, 2, 1], 500, 5, 0, false]);
      assert.equal(st.bytes, all.reduce((n, r) => n + r.bytes, 0));
      assert.deepEqual(await s.ackOutbox(2), { deletedRows: 2, deletedBytes: all[0]!.bytes + all[1]!.bytes });
      assert.deepEqual(await s.ackOutbox(1), { deletedRows: 0, deletedBytes: 0 }, 'acks never go backwards');
      assert.equal(await errorCode(s.ackOutbox(5)), 'E_STATE_ARGUMENT');
      await s.ackOutbox(4);
      await s.close();
      s = await openStore();
      st = await s.outboxStats();
      assert.deepEqual([st.rows, st.bytes, st.nextSeq, st.ackedSeq, st.oldestUnsentAgeMs], [0, 0, 5, 4, null]);
      const r = await s.commitCheckpoint({ checkpointId: 2, consumedOffset: 0, outbox: [out(1, 'a', 20, [5])], stateUpserts: [], stateDeletes: [] });
      assert.deepEqual([r.firstSeq, r.lastSeq], [5, 5]);
    });

    test('quarantine is bounded in rows and bytes, trims oldest, counts per reason', async () => {
      const s = await openStore({ quarantine: { maxRows: 3, maxBytes: 1_000_000 } });
      const q = (i: number, reason: string) => ({ arrivalMs: i, source: 'mqtt', topicOrUri: `t/${i}`, deviceId: i % 2 === 0 ? `d${i}` : null, reasonCode: reason, detail: 'bad', raw: Uint8Array.from([i]) });
      const { ids } = await s.quarantine([q(1, 'E_DECODE'), q(2, 'E_DECODE'), q(3, 'E_PROFILE')]);
      assert.deepEqual(ids, [1, 2, 3]);
      await s.quarantine([q(4, 'E_PROFILE'), q(5, 'E_DECODE')]);
      const rows = await s.readQuarantine(0, 10);
      assert.deepEqual(rows.map((r) => [r.id, r.arrivalMs, r.topicOrUri, r.deviceId, r.reasonCode, [...r.raw]]), [
        [3, 3, 't/3', null, 'E_PROFILE', [3]], [4, 4, 't/4', 'd4', 'E_PROFILE', [4]], [5, 5, 't/5', null, 'E_DECODE', [5]],
      ]);
      const st = await s.quarantineStats();
      assert.deepEqual({ ...st, bytes: 0 }, { rows: 3, bytes: 0, total: 5, trimmed: 2, byReason: { E_DECODE: 3, E_PROFILE: 2 } });
      const byBytes = await openStore({ quarantine: { maxRows: 100, maxBytes: 2 * (100 + 48 + 3 + 3) } }, 'q2.db');
      const big = (i: number) => ({ ...q(i, 'E_SIZE'), raw: new Uint8Array(100) });
      await byBytes.quarantine([big(1), big(2), big(3)]);
      assert.deepEqual((await byBytes.readQuarantine(0, 10)).map((r) => r.id), [2, 3]);
      assert.equal((await byBytes.quarantineStats()).trimmed, 1);
    });

    test('a file written by a newer schema is refused with E_STATE_SCHEMA_NEWER and left untouched', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(3));
      await s.close();
      open.length = 0;
      bumpSchemaVersion(tmp.file('state.db'), SCHEMA_VERSION + 1);
      const before = fs.readdirSync(tmp.dir).sort();
      assert.equal(await errorCode(target.open({ path: tmp.file('state.db') })), 'E_STATE_SCHEMA_NEWER');
      assert.deepEqual(fs.readdirSync(tmp.dir).sort(), before);
    });

    test('a damaged file is moved aside (never deleted) and a fresh database is used', async () => {
      const s = await openStore();
      await s.appendSegment(makeRecords(50));
      await s.close();
      open.length = 0;
      const file = tmp.file('state.db');
      const original = fs.readFileSync(file);
      const garbage = Buffer.alloc(100, 0x5a);
      fs.writeFileSync(file, Buffer.concat([garbage, original.subarray(100)]));
      const fresh = await openStore();
      const ev = fresh.openReport.events;
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.code, 'E_STATE_CORRUPT');
      const moved = ev[0]!.movedTo!;
      assert.match(moved[0]!, /state\.db\.corrupt-\d+$/);
      assert.deepEqual(fs.readFileSync(moved[0]!).subarray(100), original.subarray(100), 'the damaged bytes are kept as they were');
      assert.deepEqual((await fresh.logStats()).nextOffset, 1);
      assert.deepEqual(await fresh.appendSegment(makeRecords(1)), { firstOffset: 1, lastOffset: 1 });
    });

    test('importCheckpoint seeds a fresh store: state and checkpoint, offsets and seqs continue, a used store refuses', async () => {
      let s = await openStore();
      const rows = [{ ns: 'p/0', key: 'a', value: Uint8Array.of(1) }, { ns: 'p/0', key: 'b', value: Uint8Array.of(2, 3) }];
      await s.importCheckpoint({ checkpointId: 7, consumedOffset: 500, nextSeq: 41, rows, nowMs: 1234 });
      const check = async (): Promise<void> => {
        assert.deepEqual(await s.loadCheckpoint(), { checkpointId: 7, consumedOffset: 500, committedAtMs: 1234 });
        assert.deepEqual((await collect(s.loadState())).map((r) => ({ ...r, value: u8(r.value) })), rows);
        const st = await s.outboxStats(0);
        assert.deepEqual([st.nextSeq, st.ackedSeq, st.rows], [41, 40, 0]);
        assert.equal((await s.logStats()).nextOffset, 501);
      };
      await check();
      await s.close();
      s = await openStore();
      await check();
      assert.deepEqual(await s.appendSegment(makeRecords(3)), { firstOffset: 501, lastOffset: 503 });
      const r = await s.commitCheckpoint({ checkpointId: 8, consumedOffset: 503, stateUpserts: [], stateDeletes: [], outbox: [out(1, 's', 0, [1])] });
      assert.deepEqual([r.firstSeq, r.lastSeq], [41, 41]);
      assert.equal(await errorCode(s.importCheckpoint({ checkpointId: 9, consumedOffset: 0, nextSeq: 1, rows: [] })), 'E_STATE_ARGUMENT');
      const fresh = await openStore({}, 'other.db');
      assert.equal(await errorCode(fresh.importCheckpoint({ checkpointId: 0, consumedOffset: 0, nextSeq: 1, rows: [] })), 'E_STATE_ARGUMENT');
      await fresh.appendSegment(makeRecords(1));
      assert.equal(await errorCode(fresh.importCheckpoint({ checkpointId: 1, consumedOffset: 0, nextSeq: 1, rows: [] })), 'E_STATE_ARGUMENT');
    });

    test('calls after close reject with E_STATE_CLOSED', async () => {
      const s = await openStore();
      await s.close();
      assert.equal(await errorCode(s.appendSegment(makeRecords(1))), 'E_STATE_CLOSED');
    });

    test('records survive a close and reopen unchanged', async () => {
      let s = await openStore();
      const recs: SourceRecord[] = makeRecords(2000, 9, { devices: 300 });
      for (let i = 0; i < recs.length; i += 250) await s.appendSegment(recs.slice(i, i + 250));
      await s.close();
      s = await openStore();
      assert.deepEqual((await collect(s.readFrom(1))).flatMap((g) => g.records), recs);
    });
  });
}

/**
 * Rewrites meta.schema_version through a separate connection: a file from
 * a future build. (Tests may use the binding directly to fabricate files;
 * shipped code reaches SQLite only through sqlite-store.ts.)
 */
export function bumpSchemaVersion(file: string, version: number): void {
  const db = new Database(file);
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(version);
  db.close();
}
