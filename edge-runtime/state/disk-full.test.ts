import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { LocalStateStore } from './local-store.ts';
import { WorkerStateStore } from './worker-store.ts';
import type { StateStore, StateStoreOptions } from './store-types.ts';
import { collect, makeRecords, tempDir } from './test-support.ts';
import type { SourceRecord } from '../engine/types.ts';

/**
 * SQLITE_FULL → E_DISK_FULL, committed data intact, usable again once space
 * returns. Two ways to run out of space:
 * - a real full filesystem: a 2 MiB tmpfs mounted for the test (needs root
 *   and CAP_SYS_ADMIN; skipped with a reason otherwise);
 * - PRAGMA max_page_count (always runs): SQLite's own size cap gives the same
 *   SQLITE_FULL without a small filesystem.
 */
const impls: [string, (o: StateStoreOptions) => Promise<StateStore>][] = [
  ['LocalStateStore', (o) => LocalStateStore.open(o)],
  ['WorkerStateStore', (o) => WorkerStateStore.open(o)],
];

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code ?? 'no code';
  }
}

/** Appends 200-record segments until one fails; returns what committed and the error code. */
async function fillUp(s: StateStore, limit = 2000): Promise<{ committed: SourceRecord[]; code: string }> {
  const committed: SourceRecord[] = [];
  for (let i = 0; i < limit; i++) {
    const batch = makeRecords(200, 1000 + i, { devices: 5000 });
    const code = await codeOf(s.appendSegment(batch));
    if (code !== 'no error') return { committed, code };
    committed.push(...batch);
  }
  return { committed, code: 'never full' };
}

async function assertIntactAndUsable(s: StateStore, committed: SourceRecord[], freeSpace: () => Promise<void>): Promise<void> {
  // Nothing of the failed batch is visible; everything before it is.
  assert.deepEqual((await collect(s.readFrom(1))).flatMap((g) => g.records), committed);
  assert.equal((await s.logStats()).nextOffset, committed.length + 1);
  // A checkpoint that cannot fit fails whole.
  const before = await s.loadCheckpoint();
  const big = Array.from({ length: 5000 }, (_, i) => ({ ns: 'op', key: `k${i}`, value: new Uint8Array(400) }));
  assert.equal(await codeOf(s.commitCheckpoint({ checkpointId: 99, consumedOffset: committed.length, stateUpserts: big, stateDeletes: [], outbox: [] })), 'E_DISK_FULL');
  assert.deepEqual(await s.loadCheckpoint(), before);
  assert.deepEqual(await collect(s.loadState()), []);
  await freeSpace();
  const again = makeRecords(200, 7);
  assert.deepEqual(await s.appendSegment(again), { firstOffset: committed.length + 1, lastOffset: committed.length + 200 });
  const tail = await collect(s.readFrom(committed.length + 1));
  assert.deepEqual(tail.flatMap((g) => g.records), again);
}

describe('disk full', () => {
  for (const [name, open] of impls) {
    test(`${name}: PRAGMA max_page_count → E_DISK_FULL, nothing committed is lost, trimming makes room again`, async () => {
      const tmp = tempDir();
      try {
        const file = tmp.file('full.db');
        const s = await open({ path: file, synchronous: 'NORMAL', maxPageCount: 96 });
        const { committed, code } = await fillUp(s);
        assert.equal(code, 'E_DISK_FULL');
        assert.ok(committed.length > 0);
        await assertIntactAndUsable(s, committed, async () => {
          // Retention frees pages: checkpoint what was read, then trim it.
          await s.commitCheckpoint({ checkpointId: 1, consumedOffset: committed.length, stateUpserts: [], stateDeletes: [], outbox: [] });
          const t = await s.trimLog({ consumedOffset: committed.length, maxBytes: 0 });
          assert.ok(t.deletedSegments > 0);
        }).catch(async (e) => {
          await s.close();
          throw e;
        });
        await s.close();
      } finally {
        tmp.cleanup();
      }
    });
  }

  describe('on a real full filesystem (2 MiB tmpfs)', () => {
    const tmp = tempDir();
    const mnt = tmp.file('mnt');
    let mounted = false;
    let why = '';
    before(() => {
      fs.mkdirSync(mnt);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
        mounted = true;
      } catch (e) {
        why = `cannot mount a tmpfs here (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
      }
    });
    after(() => {
      if (mounted) execFileSync('umount', [mnt]);
      tmp.cleanup();
    });

    for (const [name, open] of impls) {
      test(`${name}: ENOSPC → E_DISK_FULL, nothing committed is lost, usable once space returns`, async (t) => {
        if (!mounted) {
          t.skip(why);
          return;
        }
        const dir = `${mnt}/${name}`;
        fs.mkdirSync(dir);
        // Ballast taking most of the filesystem; deleting it is "space returns".
        const ballast = `${dir}/ballast`;
        fs.writeFileSync(ballast, Buffer.alloc(1024 * 1024));
        const s = await open({ path: `${dir}/state.db`, synchronous: 'FULL' });
        try {
          const { committed, code } = await fillUp(s);
          assert.equal(code, 'E_DISK_FULL');
          await assertIntactAndUsable(s, committed, async () => fs.rmSync(ballast));
        } finally {
          await s.close();
        }
        // Reopens clean: quick_check passes, no event.
        const again = await open({ path: `${dir}/state.db` });
        assert.deepEqual(again.openReport.events, []);
        await again.close();
        fs.rmSync(dir, { recursive: true });
      });
    }
  });
});
