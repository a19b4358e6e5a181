/**
 * npm run bench:nab [-- --data DIR] [--emit DIR] [--only a,b] [--runs N]
 * npm run bench:nab -- --sim READINGS.ndjson [--labels LABELS.ndjson]
 *
 * Runs every detector over every file of a NAB-layout folder (default: the
 * dev split at ../shared/datasets/nab/dev next to this repository), one fresh
 * instance per file, rows in file order, parameters fixed across files and
 * labels never shown to a detector. Scores each with the NAB rule
 * (nab-score.ts) and prints, per detector, the standard, reward_low_FP_rate
 * and reward_low_FN_rate scores, points/s inside `update`, and state bytes
 * per series. `--emit DIR` writes NAB results files
 * (DIR/<detector>/<category>/<detector>_<file>.csv) for the reference scorer.
 * `--sim FILE` instead scores the device-health detectors on a firmware-sim
 * recording (see sim-bench.ts). Throughput is the median of `--runs` passes
 * (default 3; the machine may be shared). Ends with one line `BENCH {json}`.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, WeirError } from '../../errors.ts';
import { arg, benchLine, median, round } from '../bench-util.ts';
import { listDataFiles, loadNabCorpus } from './nab-corpus.ts';
import { runDetector, type NamedSpec } from './nab-run.ts';
import { writeNabResults } from './nab-results.ts';
import { NabScorer } from './nab-score.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DEFAULT_DATA = resolve(REPO, '../shared/datasets/nab/dev');
const RUNS = Math.max(1, Math.floor(arg('runs', 3)));

/** Every detector kind with its default settings; kinds that need a device profile are reported as skipped. */
export const NAB_DETECTORS: readonly NamedSpec[] = [
  { name: 'novelty', spec: { kind: 'novelty' } },
  { name: 'ewma-z', spec: { kind: 'ewma-z' } },
  { name: 'robust-mad', spec: { kind: 'robust-mad' } },
  { name: 'flatline', spec: { kind: 'flatline' } },
  { name: 'out-of-range', spec: { kind: 'out-of-range' } },
  { name: 'rate-of-change', spec: { kind: 'rate-of-change' } },
  { name: 'dropout', spec: { kind: 'dropout' } },
];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new WeirError('E_USAGE', `--${name} needs a value`);
  return v;
}

interface Row {
  name: string;
  standard: number;
  lowFP: number;
  lowFN: number;
  pointsPerSec: number;
  stateBytesPerSeries: number;
}

async function main(): Promise<void> {
  const sim = option('sim');
  if (sim !== undefined) {
    const { runSimBench } = await import('./sim-bench.ts');
    const labels = option('labels');
    await runSimBench(resolve(sim), labels === undefined ? undefined : resolve(labels));
    return;
  }
  const dataDir = resolve(option('data') ?? DEFAULT_DATA);
  const emit = option('emit');
  const only = option('only')?.split(',');
  const corpus = loadNabCorpus(dataDir);
  const labeled = new Set(corpus.files.map((f) => f.key));
  const unlabeled = listDataFiles(dataDir).filter((k) => !labeled.has(k));
  const rows = corpus.files.reduce((a, f) => a + f.values.length, 0);
  console.log(`NAB data: ${dataDir}`);
  console.log(`${corpus.files.length} files, ${rows} rows, ${corpus.windowCount} windows${unlabeled.length > 0 ? `; ${unlabeled.length} data files without labels skipped` : ''}`);
  const scorer = new NabScorer(corpus.files.map((f) => ({ key: f.key, rows: f.values.length, windows: f.windows })), corpus.profiles);
  const profiles = Object.keys(corpus.profiles);
  const results: Row[] = [];
  const skipped: string[] = [];
  for (const d of NAB_DETECTORS) {
    if (only !== undefined && !only.includes(d.name)) continue;
    let run;
    const speeds: number[] = [];
    try {
      run = runDetector(corpus, d);
      speeds.push(run.points / (run.elapsedMs / 1000));
      for (let r = 1; r < RUNS; r++) {
        const again = runDetector(corpus, d);
        speeds.push(again.points / (again.elapsedMs / 1000));
      }
    } catch (e) {
      if (e instanceof ConfigError) {
        skipped.push(`${d.name}: ${e.message}`);
        continue;
      }
      throw e;
    }
    const score = scorer.score(run.scores);
    if (emit !== undefined) writeNabResults(resolve(emit), d.name, corpus, run.scores);
    const norm = (p: string): number => score[p]?.normalized ?? Number.NaN;
    results.push({
      name: d.name,
      standard: norm('standard'),
      lowFP: norm('reward_low_FP_rate'),
      lowFN: norm('reward_low_FN_rate'),
      pointsPerSec: median(speeds),
      stateBytesPerSeries: run.stateBytesPerSeries,
    });
  }
  const pad = (s: string, n: number): string => s.padStart(n);
  console.log('');
  console.log(`${'detector'.padEnd(16)}${pad('standard', 10)}${pad('low_FP', 10)}${pad('low_FN', 10)}${pad('points/s', 12)}${pad('state B', 9)}`);
  for (const r of results) {
    console.log(`${r.name.padEnd(16)}${pad(r.standard.toFixed(2), 10)}${pad(r.lowFP.toFixed(2), 10)}${pad(r.lowFN.toFixed(2), 10)}${pad(Math.round(r.pointsPerSec).toLocaleString('en-US'), 12)}${pad(String(r.stateBytesPerSeries), 9)}`);
  }
  for (const s of skipped) console.log(`skipped ${s}`);
  if (profiles.join() !== 'standard,reward_low_FP_rate,reward_low_FN_rate') console.log(`profiles: ${profiles.join(', ')}`);
  if (emit !== undefined) console.log(`results written under ${resolve(emit)}`);
  const best = results.reduce<Row | null>((b, r) => (b === null || r.standard > b.standard ? r : b), null);
  if (best === null) throw new WeirError('E_USAGE', 'no detector ran');
  benchLine({
    bestDetector: best.name,
    standard: round(best.standard, 2),
    lowFP: round(best.lowFP, 2),
    lowFN: round(best.lowFN, 2),
    pointsPerSec: Math.round(best.pointsPerSec),
    stateBytesPerSeries: best.stateBytesPerSeries,
    files: corpus.files.length,
    rows,
    windows: corpus.windowCount,
    detectors: Object.fromEntries(results.map((r) => [r.name, {
      standard: round(r.standard, 2), lowFP: round(r.lowFP, 2), lowFN: round(r.lowFN, 2),
      pointsPerSec: Math.round(r.pointsPerSec), stateBytesPerSeries: r.stateBytesPerSeries,
    }])),
  });
}

main().catch((e: unknown) => {
  console.error(e instanceof WeirError ? `${e.code}: ${e.message}` : e);
  process.exitCode = 1;
});
