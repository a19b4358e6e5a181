import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStateStore } from '../state/local-store.ts';
import type { StateStore } from '../state/store-types.ts';
import type { PackedCheckpoint } from '../state/worker-protocol.ts';
import { StateError } from '../state/state-errors.ts';
import { GatewayRuntime, type RuntimeOptions } from './gateway-runtime.ts';
import { MemoryColdStore } from '../engine/keyed-state.ts';
import { ManualClock, type SourceRecord } from '../engine/types.ts';
import type { PipelinePlan } from '../pipeline/plan.ts';
import type { Timer } from '../state/group-commit-log.ts';
import { memoryLogger } from '../log.ts';
import { decodeWindowPayload } from '../state/window-merge.ts';

const T0 = Date.UTC(2026, 0, 1);
const PLAN: PipelinePlan = {
  name: 'p',
  watermark: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
  steps: [],
  keyBy: ['deviceId'],
  window: { type: 'tumbling', sizeMs: 1000, offsetMs: 0, allowedLatenessMs: 0 },
  aggregates: [{ fn: 'count' }, { fn: 'sum' }],
  detect: [],
};

/** Timers that run only when the test says so. */
class ManualTimer implements Timer {
  private fns = new Map<number, () => void>();
  private n = 0;
  set(fn: () => void): unknown {
    this.fns.set(++this.n, fn);
    return this.n;
  }
  clear(h: unknown): void {
    this.fns.delete(h as number);
  }
  fireAll(): void {
    const fns = [...this.fns.values()];
    this.fns.clear();
    for (const f of fns) f();
  }
}

const reading = (i: number): SourceRecord => ({ type: 'reading', reading: { deviceId: `d${i % 3}`, metric: 'm', value: i, eventTime: T0 + i * 100, arrivalTime: T0 + i * 100 } });

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function feed(rt: GatewayRuntime, timer: ManualTimer, from: number, to: number): Promise<void> {
  const acks: Promise<number>[] = [];
  for (let i = from; i < to; i++) acks.push(rt.append(reading(i)));
  timer.fireAll(); // the group-commit delay
  await Promise.all(acks);
}

async function outboxKinds(path: string): Promise<string[]> {
  const s = await LocalStateStore.open({ path });
  try {
    return (await s.readOutbox({ afterSeq: 0, limit: 100_000 })).map((r) => `${r.seq}:${r.kind}:${r.series}:${r.tStart - T0}`);
  } finally {
    await s.close();
  }
}

describe('GatewayRuntime', () => {
  test('a clean close takes a final checkpoint: the restart replays nothing and continues the outbox', async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-rt-'));
    const db = join(dir, 'g.db');
    const timer = new ManualTimer();
    let store = await LocalStateStore.open({ path: db });
    let rt = await GatewayRuntime.start({ store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0 });
    await feed(rt, timer, 0, 50);
    await rt.close();
    await store.close();
    const after1 = await outboxKinds(db);
    assert.ok(after1.length > 0);

    store = await LocalStateStore.open({ path: db });
    rt = await GatewayRuntime.start({ store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0 });
    assert.equal(rt.stats.replayedRecords, 0);
    await feed(rt, timer, 50, 100);
    await rt.close();
    await store.close();
    const after2 = await outboxKinds(db);
    assert.deepEqual(after2.slice(0, after1.length), after1);
    // windows continue where they were: d0's window [4.0 s, 5.0 s) holds readings 40..49 from both runs
    assert.ok(after2.length > after1.length);
  });

  test('a checkpoint that fails (disk full) keeps its rows for the next one: nothing lost, nothing doubled', async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-rt-'));
    const timer = new ManualTimer();
    const refDb = join(dir, 'ref.db');
    // Reference: checkpoint after every feed, never failing.
    {
      const store = await LocalStateStore.open({ path: refDb });
      const rt = await GatewayRuntime.start({ store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0 });
      for (let k = 0; k < 4; k++) {
        await feed(rt, timer, k * 30, (k + 1) * 30);
        await rt.checkpoint();
      }
      await rt.close();
      await store.close();
    }
    const db = join(dir, 'g.db');
    const inner = await LocalStateStore.open({ path: db });
    let failNext = false;
    const store: StateStore = Object.assign(Object.create(inner) as StateStore, {
      commitPackedCheckpoint: (c: PackedCheckpoint) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new StateError('E_DISK_FULL', 'database or disk is full'));
        }
        return inner.commitPackedCheckpoint(c);
      },
    });
    const logger = memoryLogger();
    const rt = await GatewayRuntime.start({ store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0, logger });
    for (let k = 0; k < 4; k++) {
      await feed(rt, timer, k * 30, (k + 1) * 30);
      failNext = k === 1;
      await rt.checkpoint().catch((e: unknown) => assert.equal((e as StateError).code, 'E_DISK_FULL'));
    }
    assert.equal(rt.stats.failedCheckpoints, 1);
    assert.ok(logger.entries.some((e) => e.level === 'error' && e.fields?.code === 'E_DISK_FULL'));
    await rt.close();
    await inner.close();
    assert.deepEqual(await outboxKinds(db), await outboxKinds(refDb));
    // and a restart from the store restores exactly: replaying nothing, producing nothing new
    const again = await LocalStateStore.open({ path: db });
    const rt2 = await GatewayRuntime.start({ store: again, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0 });
    assert.equal(rt2.stats.replayedRecords, 0);
    await rt2.close();
    await again.close();
  });

  test('under key churn a checkpoint starts early at checkpointMaxRows changed rows, with the same results', async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-rt-'));
    const timer = new ManualTimer();
    // 4,000 readings, each of a new device: every reading dirties a row of its own.
    const churn = (i: number): SourceRecord => ({ type: 'reading', reading: { deviceId: `d${i}`, metric: 'm', value: i, eventTime: T0 + i, arrivalTime: T0 + i } });
    async function run(path: string, extra: Partial<RuntimeOptions>): Promise<{ early: number; upserts: number[]; cp: number | null }> {
      const inner = await LocalStateStore.open({ path });
      const upserts: number[] = [];
      const store: StateStore = Object.assign(Object.create(inner) as StateStore, {
        commitPackedCheckpoint: (c: PackedCheckpoint) => {
          upserts.push(c.upsertKeys.ends.length);
          return inner.commitPackedCheckpoint(c);
        },
      });
      const rt = await GatewayRuntime.start({
        store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0,
        groupCommit: { maxBatchRecords: 100 }, ...extra,
      });
      for (let k = 0; k < 40; k++) {
        const acks: Promise<number>[] = [];
        for (let i = k * 100; i < (k + 1) * 100; i++) acks.push(rt.append(churn(i)));
        timer.fireAll();
        await Promise.all(acks);
      }
      const early = rt.stats.earlyCheckpoints;
      // What a crash now would recover from: early checkpoints committed, interval-only ones did not.
      const cp = (await inner.loadCheckpoint())?.consumedOffset ?? null;
      await rt.close();
      await inner.close();
      return { early, upserts, cp };
    }
    // Without a memory budget the default is interval-only.
    const ref = await run(join(dir, 'ref.db'), {});
    assert.equal(ref.early, 0);
    assert.equal(ref.cp, null);
    assert.deepEqual(ref.upserts.length, 1, 'interval-only: the final checkpoint carries every row');
    const r = await run(join(dir, 'g.db'), { checkpointMaxRows: 500 });
    assert.ok(r.early >= 4, `early checkpoints: ${r.early}`);
    assert.ok(r.cp !== null && r.cp > 0);
    // Each checkpoint stays near the limit (a group commit of 100 readings can overshoot it, plus plan/meta rows).
    assert.ok(Math.max(...r.upserts) < 500 + 100 + 10, `largest checkpoint: ${Math.max(...r.upserts)} rows`);
    assert.deepEqual(await outboxKinds(join(dir, 'g.db')), await outboxKinds(join(dir, 'ref.db')));
    // With a memory budget the default is one row per KiB of it: 512 KiB → 512 rows.
    const b = await run(join(dir, 'b.db'), { memory: { bytes: 512 * 1024 }, coldStore: () => new MemoryColdStore() });
    assert.ok(b.early >= 4, `early checkpoints under a 512 KiB budget: ${b.early}`);
    assert.ok(Math.max(...b.upserts) < 512 + 100 + 10, `largest checkpoint: ${Math.max(...b.upserts)} rows`);
    assert.deepEqual(await outboxKinds(join(dir, 'b.db')), await outboxKinds(join(dir, 'ref.db')));
  });

  test('a pipeline whose plan changed starts fresh (with a warning) instead of misreading old state', async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-rt-'));
    const db = join(dir, 'g.db');
    const timer = new ManualTimer();
    let store = await LocalStateStore.open({ path: db });
    let rt = await GatewayRuntime.start({ store, plans: [PLAN], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0 });
    await feed(rt, timer, 0, 25);
    await rt.close();
    await store.close();
    const changed: PipelinePlan = { ...PLAN, window: { type: 'tumbling', sizeMs: 2000, offsetMs: 0, allowedLatenessMs: 0 } };
    const logger = memoryLogger();
    store = await LocalStateStore.open({ path: db });
    rt = await GatewayRuntime.start({ store, plans: [changed], timer, clock: new ManualClock(T0), checkpointIntervalMs: 0, tickIntervalMs: 0, logger });
    assert.ok(logger.entries.some((e) => e.level === 'warn' && /changed/.test(e.msg)));
    await feed(rt, timer, 25, 60);
    await rt.close();
    // The new 2 s window [2 s, 4 s) of d0 counts only the new run's readings 27, 30, 33, 36, 39 —
    // not 21 and 24, which the old 1 s pane [2 s, 3 s) held when the plan changed.
    const rows = await store.readOutbox({ afterSeq: 0, limit: 10_000 });
    await store.close();
    const w = rows.filter((r) => r.kind === 'window').map((r) => decodeWindowPayload(r.payload)).find((x) => x.key.deviceId === 'd0' && x.start === T0 + 2000 && x.end === T0 + 4000);
    assert.ok(w, 'window [2 s, 4 s) of d0 emitted');
    assert.equal(w.count, 5);
    assert.equal(w.values.sum, 27 + 30 + 33 + 36 + 39);
  });
});
