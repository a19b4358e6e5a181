/**
 * DESIGN invariant 2, exactly-once results: a runtime SIGKILLed at 20+
 * points — right after group commits, in the middle of checkpoints — and
 * restarted each time ends with exactly the outbox of a run never killed:
 * same rows, same seqs, same bytes. No loss, no duplicate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import type { OutboxRow } from '../edge-runtime/state/store-types.ts';

const ROOT = join(import.meta.dirname, '..');
const CHILD = join(ROOT, 'test/support/crash-child.ts');
const TOTAL = 24_000;

interface ChildRun {
  killed: boolean;
  done: boolean;
  markers: number;
  code: number | null;
  stderr: string;
  governor: Record<string, number> | null;
}

/** Runs the child; if `killAt` is given, SIGKILLs it when the killAt.n-th marker of kind killAt.kind appears. */
function runChild(db: string, killAt?: { kind: 'P' | 'C' | 'K'; n: number }, budget = 0): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, String(TOTAL), String(budget)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let killed = false;
    let done = false;
    let stderr = '';
    let governor: Record<string, number> | null = null;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'DONE') done = true;
      if (line.startsWith('G ')) governor = JSON.parse(line.slice(2)) as Record<string, number>;
      if (killAt && !killed && line.startsWith(killAt.kind + ' ') && ++seen === killAt.n) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ killed: signal === 'SIGKILL', done, markers: seen, code, stderr, governor }));
  });
}

async function outbox(db: string): Promise<{ seq: number; kind: string; series: string; payload: string }[]> {
  const s = await LocalStateStore.open({ path: db });
  try {
    const rows: OutboxRow[] = await s.readOutbox({ afterSeq: 0, limit: 1_000_000 });
    return rows.map((r) => ({ seq: r.seq, kind: r.kind, series: r.series, payload: Buffer.from(r.payload).toString('base64') }));
  } finally {
    await s.close();
  }
}

for (const scenario of [
  { name: 'state in memory', budget: 0 },
  { name: 'state under a tiny memory budget, spilling to disk every segment', budget: 1500 },
]) {
  test(`SIGKILL at 20+ points, restart each time: the outbox equals an undisturbed run, row for row (${scenario.name})`, { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-crash-'));
    try {
      const refDb = join(dir, 'ref.db');
      const ref = await runChild(refDb); // the reference never spills and is never killed
      assert.ok(ref.done, `reference run failed: ${ref.stderr}`);
      const want = await outbox(refDb);
      assert.ok(want.length > 200, `reference produced ${want.length} rows`);
      assert.ok(want.some((r) => r.kind === 'late'), 'the stream exercises late side output');

      const db = join(dir, 'crash.db');
      // Kill points: after the n-th processed segment (the next group commit is in flight),
      // at the n-th checkpoint begin (the transaction is on its way or running), and after commits.
      const plan: { kind: 'P' | 'C' | 'K'; n: number }[] = [];
      for (let k = 0; k < 8; k++) plan.push({ kind: 'P', n: 1 + (k % 3) }, { kind: 'C', n: 1 }, { kind: 'K', n: 1 });
      let kills = 0;
      for (const at of plan) {
        const r = await runChild(db, at, scenario.budget);
        if (r.killed) kills++;
        else assert.ok(r.done, `child failed without being killed: ${r.stderr}`);
        if (r.done) break;
      }
      assert.ok(kills >= 20, `only ${kills} kills landed`);
      const fin = await runChild(db, undefined, scenario.budget);
      assert.ok(fin.done, `final run failed: ${fin.stderr}`);
      if (scenario.budget > 0) {
        assert.ok((fin.governor?.evictions ?? 0) > 0, `the budget forced no eviction: ${JSON.stringify(fin.governor)}`);
        assert.ok((fin.governor?.earlyCheckpoints ?? 0) > 0, `no early (checkpointMaxRows) checkpoint: ${JSON.stringify(fin.governor)}`);
      }
      const got = await outbox(db);
      assert.equal(got.length, want.length, 'same number of outbox rows');
      assert.deepEqual(got, want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
