import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WeirError } from '../../errors.ts';
import type { NabCorpus } from './nab-corpus.ts';

/**
 * Writes a detector's per-row scores in NAB's results layout:
 * `DIR/<detector>/<category>/<detector>_<file>.csv` with columns
 * `timestamp,value,anomaly_score,label` (label 1 inside an anomaly window).
 * Scores are written with full precision (shortest round-trip form).
 */
export function writeNabResults(dir: string, detector: string, corpus: NabCorpus, scores: readonly Float64Array[]): void {
  corpus.files.forEach((f, k) => {
    const s = scores[k]!;
    const inWindow = new Uint8Array(f.values.length);
    for (const [a, b] of f.windows) inWindow.fill(1, a, b + 1);
    const lines = ['timestamp,value,anomaly_score,label'];
    for (let i = 0; i < s.length; i++) lines.push(`${f.stamps[i]},${f.values[i]},${s[i]},${inWindow[i]}`);
    const cdir = join(dir, detector, f.category);
    const path = join(cdir, `${detector}_${f.name}.csv`);
    try {
      mkdirSync(cdir, { recursive: true });
      writeFileSync(path, `${lines.join('\n')}\n`);
    } catch (e) {
      throw new WeirError('E_IO', `cannot write ${path}`, { cause: e });
    }
  });
}
