/**
 * npm run soak:crash [-- --kills 300 --total 200000 --budget 0 --seed 1]
 *
 * The long version of test/crash-recovery.test.ts: a child runtime appends a
 * deterministic stream through group commit and is SIGKILLed at hundreds of
 * seeded-random marker points (after segment commits, at checkpoint begin,
 * after checkpoint commits), restarted each time; at the end its outbox must
 * equal, row for row, that of a run never killed. Exits 1 on any difference.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isDeepStrictEqual } from 'node:util';
import { LocalStateStore } from '../../edge-runtime/state/local-store.ts';
import { arg } from '../../edge-runtime/bench/bench-util.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CHILD = join(ROOT, 'test/support/crash-child.ts');
const KILLS = arg('kills', 300);
const TOTAL = arg('total', 200_000);
const BUDGET = arg('budget', 0);
let seed = arg('seed', 1) >>> 0 || 1;
const rnd = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};

function run(db: string, killAt?: { kind: string; n: number }): Promise<{ killed: boolean; done: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, String(TOTAL), String(BUDGET)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let done = false;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'DONE') done = true;
      if (killAt && line.startsWith(killAt.kind + ' ') && ++seen === killAt.n) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve({ killed: signal === 'SIGKILL', done, stderr }));
  });
}

async function outbox(db: string): Promise<unknown[]> {
  const s = await LocalStateStore.open({ path: db });
  try {
    return (await s.readOutbox({ afterSeq: 0, limit: 10_000_000 })).map((r) => [r.seq, r.kind, r.series, Buffer.from(r.payload).toString('base64')]);
  } finally {
    await s.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'weir-soak-'));
try {
  const t0 = Date.now();
  const ref = await run(join(dir, 'ref.db'));
  if (!ref.done) throw new Error(`reference run failed: ${ref.stderr}`);
  const want = await outbox(join(dir, 'ref.db'));
  const db = join(dir, 'soak.db');
  let kills = 0;
  let runs = 0;
  while (kills < KILLS) {
    const r = rnd();
    const at = r < 0.5 ? { kind: 'P', n: 1 + Math.floor(rnd() * 6) } : r < 0.8 ? { kind: 'C', n: 1 + Math.floor(rnd() * 2) } : { kind: 'K', n: 1 };
    const res = await run(db, at);
    runs++;
    if (res.killed) kills++;
    else if (!res.done) throw new Error(`child failed without being killed: ${res.stderr}`);
    if (res.done) {
      // The stream is complete: start over on a fresh database to keep killing.
      const got = await outbox(db);
      if (!isDeepStrictEqual(got, want)) throw new Error(`outbox differs after ${kills} kills (${got.length} rows vs ${want.length})`);
      rmSync(db, { force: true });
      for (const ext of ['-wal', '-shm', '.spill']) rmSync(db + ext, { force: true });
    }
    if (runs % 25 === 0) process.stderr.write(`soak: ${kills} kills, ${runs} runs, ${Math.round((Date.now() - t0) / 1000)} s\n`);
  }
  const fin = await run(db);
  if (!fin.done) throw new Error(`final run failed: ${fin.stderr}`);
  const got = await outbox(db);
  if (!isDeepStrictEqual(got, want)) throw new Error(`outbox differs at the end (${got.length} rows vs ${want.length})`);
  process.stdout.write(`soak:crash ok: ${kills} SIGKILLs over ${runs} runs, outbox of ${want.length} rows identical to the undisturbed run (${Math.round((Date.now() - t0) / 1000)} s)\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
