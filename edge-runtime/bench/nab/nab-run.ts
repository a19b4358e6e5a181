import { createDetector } from '../../anomaly/create-detector.ts';
import type { Detector } from '../../anomaly/detector.ts';
import type { NabCorpus } from './nab-corpus.ts';

/** One detector's pass over a corpus: a fresh instance per file (one series each), rows in file order. */
export interface DetectorRun {
  readonly name: string;
  /** One anomaly-score array per corpus file, in corpus order. */
  readonly scores: Float64Array[];
  /** Time spent inside `update`, ms (file loading and scoring excluded). */
  readonly elapsedMs: number;
  readonly points: number;
  /** Largest `stateBytes()` of any instance at the end of its file. */
  readonly stateBytesPerSeries: number;
}

export interface NamedSpec {
  readonly name: string;
  readonly spec: unknown;
}

/**
 * Runs a detector over every file. The detector sees each row once as
 * `update(timestamp, value)`; labels are never passed in. Its processing-time
 * hook is driven with the row timestamps, as a replay would (NAB has no
 * separate arrival times).
 */
export function runDetector(corpus: NabCorpus, d: NamedSpec, now: () => number = () => performance.now()): DetectorRun {
  const scores: Float64Array[] = [];
  let elapsed = 0;
  let points = 0;
  let stateBytes = 0;
  for (const f of corpus.files) {
    const det: Detector = createDetector(d.spec, {}, d.name);
    const n = f.values.length;
    const out = new Float64Array(n);
    const ts = f.timestamps;
    const vs = f.values;
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const t = ts[i]!;
      const s = det.update(t, vs[i]!, t).score;
      const tick = det.onProcessingTime(t);
      out[i] = tick !== null && tick.score > s ? tick.score : s;
    }
    elapsed += now() - t0;
    points += n;
    stateBytes = Math.max(stateBytes, det.stateBytes());
    scores.push(out);
  }
  return { name: d.name, scores, elapsedMs: elapsed, points, stateBytesPerSeries: stateBytes };
}
