import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { SqliteStore } from './sqlite-store.ts';
import { CRASH_CHILD_ROWS as ROWS, tempDir } from './test-support.ts';

const CHILD = fileURLToPath(new URL('./checkpoint-crash-child.ts', import.meta.url));

function startChild(file: string, mode: string, keys: number): { child: ChildProcess; lines: AsyncIterator<string>; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, mode, String(keys)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines, exited };
}

async function waitFor(lines: AsyncIterator<string>, wanted: (l: string) => boolean): Promise<string> {
  for (;;) {
    const r = await lines.next();
    if (r.done === true) throw new Error('child ended before the expected line');
    if (wanted(r.value)) return r.value;
  }
}

/** After a crash: all of the last checkpoint is there and nothing of a later one. Returns the checkpoint id. */
function assertAllOrNothing(file: string, keys: number): number {
  const store = SqliteStore.open({ path: file });
  try {
    const ck = store.loadCheckpoint();
    const c = ck?.checkpointId ?? 0;
    const expected = [c & 255, (c >> 8) & 255];
    let n = 0;
    for (const row of store.loadState('op')) {
      assert.deepEqual([...row.value], expected, `state ${row.key} is from checkpoint ${c}`);
      n++;
    }
    assert.equal(n, c === 0 ? 0 : keys);
    const rows = store.readOutbox({ afterSeq: 0, limit: 1_000_000 });
    assert.equal(rows.length, c * ROWS, `outbox holds the rows of checkpoints 1..${c} only`);
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
    if (c > 0) assert.deepEqual([...rows[rows.length - 1]!.payload], expected);
    // The log holds whole segments only, and the checkpoint never points past it.
    const log = store.logStats();
    assert.ok((ck?.consumedOffset ?? 0) <= log.nextOffset - 1);
    let records = 0;
    for (const seg of store.readFrom(1)) records += seg.records.length;
    assert.equal(records, log.records);
    assert.equal(log.records % 100, 0);
    return c;
  } finally {
    store.close();
  }
}

describe('checkpoint atomicity under SIGKILL', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  for (const phase of ['state', 'outbox'] as const) {
    test(`killed inside the transaction after writing ${phase}: the checkpoint is not there at all`, async () => {
      const file = tmp.file(`hook-${phase}.db`);
      const keys = 2000;
      const { child, lines, exited } = startChild(file, `hook:${phase}`, keys);
      await waitFor(lines, (l) => l === 'COMMITTED');
      await waitFor(lines, (l) => l === 'IN_TXN' || l === 'ESCAPED').then((l) => assert.equal(l, 'IN_TXN'));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      assert.equal(assertAllOrNothing(file, keys), 1);
    });
  }

  test('killed at arbitrary moments of a checkpoint loop: every restart finds one whole checkpoint', async () => {
    const file = tmp.file('loop.db');
    const keys = 20_000;
    // Kill while checkpoint `at` is being written, `delayMs` after it began (a 20,000-key commit takes tens of ms).
    const kills: [number, number][] = [[1, 15], [2, 0], [2, 30], [3, 5], [3, 60]];
    let last = 0;
    for (const [offsetFromStart, delayMs] of kills) {
      const { child, lines, exited } = startChild(file, 'loop', keys);
      const target = last + offsetFromStart;
      await waitFor(lines, (l) => l === `BEGIN ${target}`);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      const c = assertAllOrNothing(file, keys);
      // BEGIN target means target − 1 committed; the child may have gone further before the signal landed.
      assert.ok(c >= target - 1, `checkpoint ${c} after killing during ${target}: a committed checkpoint was lost`);
      last = c;
    }
  });
});
