/**
 * A checkpoint crosses to the storage worker packed into columns and is written there a chunk of
 * rows at a time: what lands in the database is exactly what the in-process store writes for the
 * same input, across chunk boundaries and runs of namespaces and outbox kinds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStateStore } from './local-store.ts';
import { packCheckpoint } from './checkpoint-columns.ts';
import { WorkerStateStore } from './worker-store.ts';
import type { CheckpointInput, OutboxInput, Priority, StateRow, StateStore } from './store-types.ts';

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

function input(id: number): CheckpointInput {
  const ups: StateRow[] = [];
  // 2,600 rows: three chunks of the worker's 1,024, two namespaces in three runs, keys of any length and script.
  for (let i = 0; i < 2600; i++) {
    const ns = i < 1000 || i >= 2500 ? 'a/window' : 'b/count';
    ups.push({ ns, key: `${id}\u0000dev-${i}\u0000${i % 7 === 0 ? 'température ☃' : 'x'.repeat(i % 40)}`, value: bytes(i & 255, id, i >> 8) });
  }
  ups.push({ ns: 'c', key: '', value: new Uint8Array(0) });
  const outbox: OutboxInput[] = [];
  for (let i = 0; i < 2100; i++) {
    outbox.push({ priority: (i % 3) as Priority, kind: i < 1500 ? 'window' : 'anomaly', series: `p|dev-${i}|${'m'.repeat(i % 5)}`, tStart: i * 10.5, tEnd: i * 10.5 + 10, payload: bytes(i & 255, id) });
  }
  return {
    checkpointId: id, consumedOffset: 1, nowMs: 1_767_225_600_000 + id,
    stateUpserts: ups,
    stateDeletes: id === 2 ? [{ ns: 'a/window', key: '1\u0000dev-1\u0000x' }] : [],
    stateDeletePrefixes: id === 2 ? [{ ns: 'b/count', key: '1\u0000' }] : [],
    outbox,
  };
}

async function contents(s: StateStore): Promise<{ state: StateRow[]; outbox: unknown[] }> {
  const state: StateRow[] = [];
  for await (const r of s.loadState()) state.push({ ns: r.ns, key: r.key, value: Uint8Array.from(r.value) });
  const outbox = (await s.readOutbox({ afterSeq: 0, limit: 100_000 })).map((r) => ({ ...r, payload: Uint8Array.from(r.payload) }));
  return { state, outbox };
}

test('a packed checkpoint writes the same rows as the in-process store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-pack-'));
  const worker = await WorkerStateStore.open({ path: join(dir, 'w.db') });
  const local = await LocalStateStore.open({ path: join(dir, 'l.db') });
  try {
    for (const s of [worker, local]) await s.appendSegment([{ type: 'tick', processingTime: 1 }]);
    for (const id of [1, 2]) {
      const [w, l] = await Promise.all([worker.commitCheckpoint(input(id)), local.commitCheckpoint(input(id))]);
      assert.deepEqual(w, l);
    }
    const [w, l] = await Promise.all([contents(worker), contents(local)]);
    assert.equal(w.state.length, 2600 * 2 + 1 - 1 - 1500);
    assert.equal(w.outbox.length, 4200);
    assert.deepEqual(w, l);
  } finally {
    await worker.close();
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('packing refuses an outbox priority a byte cannot carry, as the store would', async () => {
  const bad = { ...input(1), outbox: [{ priority: 7 as Priority, kind: 'window', series: 's', tStart: 0, tEnd: 1, payload: bytes(1) }] };
  assert.throws(() => packCheckpoint(bad), /outbox priority must be 0, 1 or 2, got 7/);
  const dir = mkdtempSync(join(tmpdir(), 'weir-pack-'));
  const worker = await WorkerStateStore.open({ path: join(dir, 'w.db') });
  try {
    await worker.appendSegment([{ type: 'tick', processingTime: 1 }]);
    await assert.rejects(worker.commitCheckpoint(bad), { code: 'E_STATE_ARGUMENT' });
    assert.equal(await worker.loadCheckpoint(), null);
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
