import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SourceRecord } from '../engine/types.ts';
import { ManualClock } from '../engine/types.ts';
import { GroupCommitLog, type Timer } from './group-commit-log.ts';
import { LocalStateStore } from './local-store.ts';
import { StateError } from './state-errors.ts';
import type { AppendResult, StateStore } from './store-types.ts';
import { collect, makeRecords, tempDir } from './test-support.ts';

/** A timer moved by hand. */
class ManualTimer implements Timer {
  private now = 0;
  private tasks: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.tasks.push({ at: this.now + ms, fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.tasks = this.tasks.filter((t) => t.id !== handle);
  }
  get armed(): number {
    return this.tasks.length;
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.tasks.filter((t) => t.at <= this.now);
    this.tasks = this.tasks.filter((t) => t.at > this.now);
    for (const t of due) t.fn();
  }
}

/** A store whose appends the test completes (or fails) one by one, in order. */
class HeldStore implements Pick<StateStore, 'appendSegment'> {
  next = 1;
  calls: { records: readonly SourceRecord[]; createdAtMs: number | undefined; done: (e?: unknown) => void }[] = [];
  appendSegment(records: readonly SourceRecord[], createdAtMs?: number): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        records, createdAtMs,
        done: (e?: unknown) => {
          if (e !== undefined) return reject(e);
          const first = this.next;
          this.next += records.length;
          resolve({ firstOffset: first, lastOffset: first + records.length - 1 });
        },
      });
    });
  }
  async completeNext(e?: unknown): Promise<void> {
    this.calls.shift()!.done(e);
    await settle();
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));
const recs = (n: number, seed = 1) => makeRecords(n, seed, { tickEvery: 0 });

describe('GroupCommitLog', () => {
  test('flushes at maxBatchRecords and resolves each append with its offset after the commit', async () => {
    const store = new HeldStore();
    const timer = new ManualTimer();
    const log = new GroupCommitLog(store, { maxBatchRecords: 3, maxDelayMs: 5, timer, clock: new ManualClock(1234) });
    const ps = recs(3).map((r) => log.append(r));
    assert.equal(store.calls.length, 1);
    assert.equal(store.calls[0]!.records.length, 3);
    assert.equal(store.calls[0]!.createdAtMs, 1234);
    assert.equal(timer.armed, 0, 'the size flush disarmed the timer');
    let resolved = false;
    void Promise.all(ps).then(() => (resolved = true));
    await settle();
    assert.equal(resolved, false, 'nothing resolves before the commit');
    await store.completeNext();
    assert.deepEqual(await Promise.all(ps), [1, 2, 3]);
  });

  test('flushes maxDelayMs after the first record of a batch', async () => {
    const store = new HeldStore();
    const timer = new ManualTimer();
    const log = new GroupCommitLog(store, { maxBatchRecords: 100, maxDelayMs: 5, timer });
    const ps = recs(2).map((r) => log.append(r));
    timer.advance(4);
    assert.equal(store.calls.length, 0);
    timer.advance(1);
    assert.equal(store.calls.length, 1);
    await store.completeNext();
    assert.deepEqual(await Promise.all(ps), [1, 2]);
  });

  test('bounded: not writable at maxPendingRecords, append refuses, drained() resolves at half', async () => {
    const store = new HeldStore();
    const timer = new ManualTimer();
    const log = new GroupCommitLog(store, { maxBatchRecords: 2, maxPendingRecords: 4, maxInFlightBatches: 1, timer });
    const ps = recs(4).map((r) => log.append(r));
    assert.equal(log.writable, false);
    assert.equal(log.pending, 4);
    assert.equal(store.calls.length, 1, 'one batch in flight, one waiting');
    assert.throws(() => log.append(recs(1)[0]!), (e: unknown) => e instanceof StateError && e.code === 'E_LOG_BACKPRESSURE');
    assert.equal(log.stats.backpressureRefusals, 1);
    let drained = false;
    void log.drained().then(() => (drained = true));
    await store.completeNext();
    assert.deepEqual([drained, log.pending, log.writable, store.calls.length], [true, 2, true, 1]);
    await store.completeNext();
    assert.deepEqual(await Promise.all(ps), [1, 2, 3, 4]);
    assert.equal(log.pending, 0);
  });

  test('a failed batch rejects its own appends only; later batches commit', async () => {
    const store = new HeldStore();
    const log = new GroupCommitLog(store, { maxBatchRecords: 2, timer: new ManualTimer() });
    const first = recs(2).map((r) => log.append(r).then(() => 'committed', (e: unknown) => (e as StateError).code));
    const second = recs(2, 2).map((r) => log.append(r));
    await store.completeNext(new StateError('E_DISK_FULL', 'full'));
    await store.completeNext();
    assert.deepEqual(await Promise.all(first), ['E_DISK_FULL', 'E_DISK_FULL']);
    assert.deepEqual(await Promise.all(second), [1, 2]);
    assert.deepEqual(log.stats, { batches: 1, records: 2, failedBatches: 1, failedRecords: 2, backpressureRefusals: 0 });
  });

  test('appendBatch: its records go to one segment, after what is waiting, and resolve together with the first offset', async () => {
    const store = new HeldStore();
    const timer = new ManualTimer();
    const log = new GroupCommitLog(store, { maxBatchRecords: 3, maxPendingRecords: 6, timer });
    const single = log.append(recs(1)[0]!);
    const batch = log.appendBatch(recs(4, 2));
    assert.equal(store.calls.length, 1, 'flushed as one segment once past maxBatchRecords');
    assert.equal(store.calls[0]!.records.length, 5, 'the batch is not split at maxBatchRecords');
    assert.equal(timer.armed, 0);
    const failing = log.appendBatch(recs(1, 3)).then(() => 'committed', (e: unknown) => (e as StateError).code);
    assert.equal(log.writable, false, '6 pending');
    assert.throws(() => log.appendBatch(recs(1, 4)), (e: unknown) => e instanceof StateError && e.code === 'E_LOG_BACKPRESSURE');
    assert.throws(() => log.appendBatch([]), (e: unknown) => e instanceof StateError && e.code === 'E_STATE_ARGUMENT');
    await store.completeNext();
    assert.deepEqual([await single, await batch], [1, 2]);
    timer.advance(5);
    await store.completeNext(new StateError('E_DISK_FULL', 'full'));
    assert.equal(await failing, 'E_DISK_FULL');
    assert.equal(log.pending, 0);
  });

  test('onCommitted hands each committed batch on in offset order; flush() waits for everything', async () => {
    const store = new HeldStore();
    const seen: [number, number][] = [];
    const log = new GroupCommitLog(store, { maxBatchRecords: 3, maxInFlightBatches: 2, timer: new ManualTimer(), onCommitted: (r, first) => seen.push([first, r.length]) });
    const all = recs(7).map((r) => log.append(r));
    let flushed = false;
    void log.flush().then(() => (flushed = true));
    await store.completeNext();
    await store.completeNext();
    assert.equal(flushed, false);
    await store.completeNext();
    assert.equal(flushed, true);
    assert.deepEqual(seen, [[1, 3], [4, 3], [7, 1]]);
    assert.deepEqual(await Promise.all(all), [1, 2, 3, 4, 5, 6, 7]);
  });

  test('over a real store: 10,000 appends land in the log in order, offsets 1..10,000', async () => {
    const tmp = tempDir();
    const store = await LocalStateStore.open({ path: tmp.file('g.db'), synchronous: 'NORMAL' });
    try {
      const log = new GroupCommitLog(store, { maxBatchRecords: 512, maxPendingRecords: 2048 });
      const input = makeRecords(10_000, 3);
      const offsets: Promise<number>[] = [];
      for (const r of input) {
        if (!log.writable) await log.drained();
        offsets.push(log.append(r));
      }
      await log.close();
      assert.deepEqual(await Promise.all(offsets), input.map((_, i) => i + 1));
      assert.deepEqual((await collect(store.readFrom(1))).flatMap((g) => g.records), input);
      assert.throws(() => log.append(input[0]!), (e: unknown) => (e as StateError).code === 'E_STATE_CLOSED');
    } finally {
      await store.close();
      tmp.cleanup();
    }
  });
});
