import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalStateStore } from '../state/local-store.ts';
import { tempDir } from '../state/test-support.ts';
import type { StateRow, StateStore } from '../state/store-types.ts';
import { takeSnapshot } from './snapshot.ts';

const row = (key: string, v: number): StateRow => ({ ns: 'p/0', key, value: Uint8Array.of(v) });

test('takeSnapshot: the rows of one checkpoint, read again when a checkpoint commits in the middle', async () => {
  const tmp = tempDir();
  const store = await LocalStateStore.open({ path: tmp.file('s.db'), synchronous: 'NORMAL' });
  try {
    assert.equal(await takeSnapshot(store, 'gw', 0), null);
    await store.appendSegment([{ type: 'tick', processingTime: 1 }, { type: 'tick', processingTime: 2 }]);
    await store.commitCheckpoint({ checkpointId: 1, consumedOffset: 1, stateUpserts: [row('a', 1), row('b', 1)], stateDeletes: [],
      outbox: [{ priority: 1, kind: 'window', series: 's', tStart: 0, tEnd: 1, payload: Uint8Array.of(1) }], nowMs: 10 });
    // A store whose first state read is interrupted by checkpoint 2 (as the runtime would do concurrently).
    let interrupted = false;
    const racing: StateStore = Object.assign(Object.create(store) as StateStore, {
      loadState: async function* (ns?: string): AsyncGenerator<StateRow> {
        for await (const r of store.loadState(ns)) {
          yield r;
          if (!interrupted) {
            interrupted = true;
            await store.commitCheckpoint({ checkpointId: 2, consumedOffset: 2, stateUpserts: [row('a', 2), row('c', 2)], stateDeletes: [], outbox: [], nowMs: 20 });
          }
        }
      },
      loadCheckpoint: () => store.loadCheckpoint(),
      outboxStats: (n?: number) => store.outboxStats(n),
    });
    const snap = await takeSnapshot(racing, 'gw', 99);
    assert.ok(snap !== null);
    assert.deepEqual({ ...snap, rows: { ...snap.rows, values: snap.rows.values.map((v) => [...v]) } }, {
      v: 1, gatewayId: 'gw', checkpointId: 2, consumedOffset: 2, committedAtMs: 20, nextSeq: 2, takenAtMs: 99,
      rows: { ns: ['p/0', 'p/0', 'p/0'], keys: ['a', 'b', 'c'], values: [[2], [1], [2]] },
    });
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
