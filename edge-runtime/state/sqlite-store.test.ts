import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite-store.ts';
import type { OutboxInput } from './store-types.ts';
import { makeRecords, tempDir } from './test-support.ts';

/** What only the synchronous store shows (the shared behaviour is in state-store-contract.ts). */
describe('SqliteStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  function filled(name: string, segments: number): string {
    const file = tmp.file(name);
    const s = SqliteStore.open({ path: file, synchronous: 'NORMAL' });
    for (let i = 0; i < segments; i++) s.appendSegment(makeRecords(500, i, { devices: 2000 }));
    s.commitCheckpoint({ checkpointId: 1, consumedOffset: 10, nowMs: 1, stateUpserts: Array.from({ length: 2000 }, (_, i) => ({ ns: 'op', key: `k${i}`, value: new Uint8Array(100).fill(i & 255) })), stateDeletes: [], outbox: [] });
    s.close();
    return file;
  }

  const damage: [string, (buf: Buffer) => void][] = [
    ['a garbage header (not a database)', (b) => b.fill(0x5a, 0, 100)],
    ['garbage over interior pages (fails quick_check)', (b) => b.fill(0xa5, 4096 * 3, 4096 * 8)],
  ];
  for (const [name, spoil] of damage) {
    test(`${name}: moved aside with its -wal, reported, fresh database opened`, () => {
      const file = filled('d.db', 40);
      const buf = fs.readFileSync(file);
      spoil(buf);
      fs.writeFileSync(file, buf);
      const wal = Buffer.alloc(1000, 0x77); // not a valid WAL: SQLite would discard it on close
      fs.writeFileSync(`${file}-wal`, wal);
      const s = SqliteStore.open({ path: file, clock: { now: () => 4242 } });
      try {
        const ev = s.openReport.events;
        assert.equal(ev.length, 1);
        assert.equal(ev[0]!.code, 'E_STATE_CORRUPT');
        assert.deepEqual(ev[0]!.movedTo!.slice(0, 2), [`${file}.corrupt-4242`, `${file}.corrupt-4242-wal`]);
        assert.deepEqual(fs.readFileSync(`${file}.corrupt-4242-wal`), wal, 'the -wal as it was before SQLite opened it');
        assert.deepEqual(fs.readdirSync(tmp.dir).filter((f) => f.includes('wal-at-open')), []);
        assert.match(ev[0]!.message, /is damaged .*moved aside to .*started with a fresh database/);
        assert.deepEqual(fs.readFileSync(`${file}.corrupt-4242`), buf, 'kept byte for byte');
        assert.equal(s.openReport.foundSchemaVersion, 0);
        assert.equal(s.loadCheckpoint(), null);
        assert.equal(s.logStats().nextOffset, 1);
      } finally {
        s.close();
      }
    });
  }

  test('a file that cannot be opened for other reasons is not moved: E_STATE_IO', () => {
    const dir = tmp.file('a-directory');
    fs.mkdirSync(dir);
    assert.throws(() => SqliteStore.open({ path: dir }), (e: unknown) => (e as { code?: string }).code === 'E_STATE_IO');
    assert.ok(fs.statSync(dir).isDirectory());
    assert.deepEqual(fs.readdirSync(tmp.dir), ['a-directory']);
  });

  test('the WAL is checkpointed and truncated once it passes walCheckpointBytes', () => {
    const file = tmp.file('w.db');
    const s = SqliteStore.open({ path: file, synchronous: 'NORMAL', walCheckpointBytes: 64 * 1024 });
    try {
      let sawTruncate = false;
      let maxWal = 0;
      for (let i = 0; i < 40; i++) {
        s.appendSegment(makeRecords(1000, i, { devices: 3000 }));
        const size = fs.statSync(`${file}-wal`).size;
        maxWal = Math.max(maxWal, size);
        if (size === 0) sawTruncate = true;
      }
      assert.ok(sawTruncate, 'the WAL was truncated after a write that grew it past the threshold');
      assert.ok(maxWal <= 64 * 1024 + 64 * 1024, `WAL stayed near the threshold (max ${maxWal} B)`);
    } finally {
      s.close();
    }
  });

  test('manual WAL maintenance leaves the WAL alone until asked', () => {
    const file = tmp.file('m.db');
    const s = SqliteStore.open({ path: file, synchronous: 'NORMAL', walCheckpointBytes: 1024, walMaintenance: 'manual' });
    try {
      s.appendSegment(makeRecords(2000, 1));
      assert.ok(fs.statSync(`${file}-wal`).size > 1024);
      assert.deepEqual(s.maintainWal(), { checkpointed: true });
      assert.equal(fs.statSync(`${file}-wal`).size, 0);
      assert.deepEqual(s.maintainWal(), { checkpointed: false });
    } finally {
      s.close();
    }
  });

  test('acked outbox rows leave reads and totals at once and the disk in bulk; degrade deletes them first, reopening counts right', () => {
    const file = tmp.file('ack.db');
    const onDisk = (): number => {
      const raw = new Database(file, { readonly: true });
      try {
        return (raw.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
      } finally {
        raw.close();
      }
    };
    const row = (i: number): OutboxInput => ({ priority: 2, kind: 'late', series: `s${i % 7}`, tStart: i, tEnd: i, payload: new Uint8Array(100).fill(i & 255) });
    const open = (maxBytes: number): SqliteStore => SqliteStore.open({ path: file, synchronous: 'NORMAL', outbox: { maxBytes, lowWaterRatio: 0.5, maxMergeSpanMs: 0, mergeSettleMs: 0, windowSpecs: {} } });
    let s = open(1 << 30);
    s.commitCheckpoint({ checkpointId: 1, consumedOffset: 0, nowMs: 1, stateUpserts: [], stateDeletes: [], outbox: Array.from({ length: 3000 }, (_, i) => row(i)) });
    assert.deepEqual(s.ackOutbox(1000), { deletedRows: 1000, deletedBytes: 1000 * s.readOutbox({ afterSeq: 0, limit: 1 })[0]!.bytes });
    assert.equal(s.outboxStats().rows, 2000);
    assert.equal(s.readOutbox({ afterSeq: 0, limit: 10 })[0]!.seq, 1001, 'acked rows are never handed out, whatever afterSeq says');
    assert.equal(onDisk(), 3000, 'still on disk: fewer than 20,000 seqs acked since the last delete');
    s.close();
    s = open(1 << 30);
    assert.equal(s.outboxStats().rows, 2000, 'reopened: acked rows on disk are not counted');
    assert.equal(s.outboxStats().ackedSeq, 1000);
    s.close();
    // Over quota: the acked rows go first (nothing to degrade for them), then the oldest raw rows.
    s = open(150 * 1000);
    const res = s.commitCheckpoint({ checkpointId: 2, consumedOffset: 0, nowMs: 2, stateUpserts: [], stateDeletes: [], outbox: [row(3000)] });
    assert.equal(res.degrade.dropped[2], 2001 - s.outboxStats().rows + 1, 'only unacked rows are counted as dropped');
    assert.ok(s.readOutbox({ afterSeq: 0, limit: 1 })[0]!.seq > 1000);
    assert.equal(onDisk(), s.outboxStats().rows);
    // Acking everything deletes at once (an empty outbox keeps nothing on disk).
    s.ackOutbox(s.outboxStats().nextSeq - 1);
    assert.equal(onDisk(), 0);
    s.close();
  });

  test(':memory: works for tools and tests', () => {
    const s = SqliteStore.open({ path: ':memory:' });
    assert.deepEqual(s.appendSegment(makeRecords(3)), { firstOffset: 1, lastOffset: 3 });
    assert.equal([...s.readFrom(1)].length, 1);
    s.close();
  });
});
