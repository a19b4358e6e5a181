import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNabCorpus, type NabCorpus } from './nab-corpus.ts';
import { runDetector } from './nab-run.ts';
import { writeNabResults } from './nab-results.ts';
import { NabScorer } from './nab-score.ts';

/**
 * Our scorer against the independent reference scorer shared/tools/nab_score.py
 * (Python 3, standard library), on results files our bench emitted: every
 * profile's normalized score, raw score and threshold must agree to 1e-6.
 * Skipped when python3 or the script is missing.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = resolve(REPO, '../shared/tools/nab_score.py');
const DEV = resolve(REPO, '../shared/datasets/nab/dev');
const python = spawnSync('python3', ['--version']).status === 0;
const skip = !python ? 'python3 not available' : !existsSync(SCRIPT) ? `no ${SCRIPT}` : false;

interface PyProfile { normalized: number; raw: number; threshold: number; tp: number; fp: number }
type PyReport = { detectors: Record<string, Record<string, PyProfile>> };

function reference(dataset: string, results: string, detectors: string[]): PyReport {
  const out = join(results, 'report.json');
  const p = spawnSync('python3', [SCRIPT, '--dataset', dataset, '--results', results, '-d', detectors.join(','), '--json', out], { encoding: 'utf8' });
  assert.equal(p.status, 0, `nab_score.py failed: ${p.stdout}${p.stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')) as PyReport;
}

function crossCheck(corpus: NabCorpus, dataset: string, runs: { name: string; scores: Float64Array[] }[]): void {
  const results = mkdtempSync(join(tmpdir(), 'weir-nab-results-'));
  try {
    for (const r of runs) writeNabResults(results, r.name, corpus, r.scores);
    const py = reference(dataset, results, runs.map((r) => r.name));
    const scorer = new NabScorer(corpus.files.map((f) => ({ key: f.key, rows: f.values.length, windows: f.windows })), corpus.profiles);
    for (const r of runs) {
      const ours = scorer.score(r.scores);
      for (const [profile, theirs] of Object.entries(py.detectors[r.name]!)) {
        const mine = ours[profile]!;
        const at = `${r.name}/${profile}`;
        assert.ok(Math.abs(mine.normalized - theirs.normalized) <= 1e-6, `${at} normalized ${mine.normalized} vs ${theirs.normalized}`);
        assert.ok(Math.abs(mine.raw - theirs.raw) <= 1e-6, `${at} raw ${mine.raw} vs ${theirs.raw}`);
        assert.equal(mine.threshold, theirs.threshold, `${at} threshold`);
        assert.deepEqual([mine.tp, mine.fp], [theirs.tp, theirs.fp], `${at} tp/fp`);
      }
    }
  } finally {
    rmSync(results, { recursive: true, force: true });
  }
}

/** A small NAB-layout folder: two categories, repeated and backward timestamps, windows at edges and in probation. */
function syntheticDataset(dir: string): void {
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const stamp = (i: number): string => new Date(Date.UTC(2024, 0, 1) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
  const files: Record<string, { rows: number; windows: [number, number][]; quirk?: 'repeat' | 'back' }> = {
    'alpha/spiky.csv': { rows: 900, windows: [[300, 389], [600, 689]] },
    'alpha/quiet.csv': { rows: 400, windows: [] },
    'beta/early.csv': { rows: 500, windows: [[20, 90], [400, 499]], quirk: 'repeat' },
    'beta/back.csv': { rows: 700, windows: [[350, 420]], quirk: 'back' },
  };
  const windows: Record<string, [string, string][]> = {};
  for (const [key, f] of Object.entries(files)) {
    const stamps: string[] = [];
    for (let i = 0; i < f.rows; i++) {
      let j = i;
      if (f.quirk === 'repeat' && i >= 200 && i < 205) j = 200; // five rows share a timestamp
      if (f.quirk === 'back' && i === 500) j = 480; // one step back
      stamps.push(stamp(j));
    }
    const lines = ['timestamp,value'];
    for (let i = 0; i < f.rows; i++) {
      const inWin = f.windows.some(([a, b]) => i >= a && i <= b);
      const v = 10 + Math.sin(i / 12) * 3 + rnd() + (inWin && rnd() < 0.1 ? 8 * rnd() : 0);
      lines.push(`${stamps[i]},${v}`);
    }
    mkdirSync(join(dir, 'data', key.split('/')[0]!), { recursive: true });
    writeFileSync(join(dir, 'data', key), `${lines.join('\n')}\n`);
    windows[key] = f.windows.map(([a, b]) => [`${stamps[a]}.000000`, `${stamps[b]}.000000`]);
  }
  writeFileSync(join(dir, 'combined_windows.json'), JSON.stringify(windows));
  // NAB's three cost matrices (config/profiles.json)
  const cost = (fp: number, fn: number) => ({ CostMatrix: { tpWeight: 1, fpWeight: fp, fnWeight: fn, tnWeight: 1 } });
  writeFileSync(join(dir, 'profiles.json'), JSON.stringify({ standard: cost(0.11, 1), reward_low_FP_rate: cost(0.22, 1), reward_low_FN_rate: cost(0.11, 2) }));
}

describe('NAB scorer cross-check with shared/tools/nab_score.py', { skip }, () => {
  test('synthetic corpus: detectors and a tie-heavy score pattern', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-nab-data-'));
    try {
      syntheticDataset(dir);
      const corpus = loadNabCorpus(dir);
      let seed = 99;
      const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
      // many equal scores (two decimals) stress the tie handling of the threshold sweep
      const ties = corpus.files.map((f) => Float64Array.from(f.values, () => Math.round(rnd() ** 6 * 100) / 100));
      const runs = [
        { name: 'ties', scores: ties },
        ...['novelty', 'ewma-z', 'robust-mad'].map((k) => runDetector(corpus, { name: k, spec: { kind: k } })),
      ];
      crossCheck(corpus, dir, runs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('NAB dev split: the novelty detector', { skip: existsSync(DEV) ? false : `no ${DEV}` }, () => {
    const corpus = loadNabCorpus(DEV);
    crossCheck(corpus, DEV, [runDetector(corpus, { name: 'novelty', spec: { kind: 'novelty' } })]);
  });
});
