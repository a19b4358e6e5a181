import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NabScorer, nabCurve, probationRows, type ScorableFile } from './nab-score.ts';
import type { Profiles } from './nab-corpus.ts';

// The scaled sigmoid written out again, independently of the module.
const A = (p: number): number => 2 / (1 + Math.exp(5 * p)) - 1;
const TP = (rowsLeft: number, len: number): number => A(-rowsLeft / len) / A(-1);
const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

const PROFILES: Profiles = {
  standard: { CostMatrix: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 } },
  reward_low_FP_rate: { CostMatrix: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 } },
  reward_low_FN_rate: { CostMatrix: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 } },
  harsh: { CostMatrix: { tpWeight: 1, fpWeight: 1, fnWeight: 1 } },
};

function scores(n: number, hits: Record<number, number>): Float64Array {
  const s = new Float64Array(n);
  for (const [i, v] of Object.entries(hits)) s[Number(i)] = v;
  return s;
}

describe('NAB rule pieces', () => {
  test('probation is 15% of rows, at most 750', () => {
    assert.deepEqual([100, 1243, 4032, 5000, 5001, 22695].map(probationRows), [15, 186, 604, 750, 750, 750]);
  });
  test('the curve', () => {
    close(nabCurve(-1), A(-1), 'A(-1)');
    close(nabCurve(0), 0, 'A(0)');
    close(nabCurve(3), A(3), 'A(3)');
    assert.equal(nabCurve(3.0001), -1);
  });
});

describe('NabScorer on hand-made files', () => {
  const win: ScorableFile = { key: 'c/a.csv', rows: 100, windows: [[40, 49]] };
  const quiet: ScorableFile = { key: 'c/b.csv', rows: 100, windows: [] };

  test('one early-ish detection, one far FP, one FP just past the window; probation ignored', () => {
    const sc = new NabScorer([win], PROFILES);
    // row 10 is probationary; 45 in the window (5 rows left of 10); 52 is 3 rows past the end; 80 is 31 rows past (> 3 lengths)
    const r = sc.score([scores(100, { 10: 0.99, 45: 0.9, 52: 0.7, 80: 0.8 })]);
    const std = r.standard!;
    close(std.threshold, 0.9, 'threshold');
    close(std.raw, TP(5, 10), 'raw');
    assert.deepEqual([std.tp, std.fp, std.fn, std.tn], [1, 0, 9, 75]);
    close(sc.nullRawScore('standard'), -1, 'null raw');
    close(std.normalized, (100 * (TP(5, 10) + 1)) / 2, 'normalized');
    // at the FN-heavy profile taking 52 and 80 as well is still worse than stopping at 0.9
    close(r.reward_low_FN_rate!.raw, TP(5, 10), 'lowFN raw');
    close(r.reward_low_FN_rate!.normalized, (100 * (TP(5, 10) + 2)) / 3, 'lowFN normalized');
  });

  test('false positives are cheap just after a window and full-price later or before any window', () => {
    const sc = new NabScorer([win], PROFILES);
    const r = sc.score([scores(100, { 41: 0.5, 50: 0.5, 30: 0.5, 95: 0.5 })], { standard: 0.5 });
    const expected = TP(9, 10) + 0.11 * (A(1 / 9) + -1 + -1); // 50: 1 row past; 30: before the window; 95: 46 rows past
    close(r.standard!.raw, expected, 'raw at fixed threshold');
    assert.equal(r.standard!.fp, 3);
  });

  test('the threshold is chosen over all files together, per profile', () => {
    const sc = new NabScorer([win, quiet], PROFILES);
    // a: detection 8 rows before the end of the window at 0.6; b: two FPs at 0.9 and 0.95
    const s = [scores(100, { 42: 0.6 }), scores(100, { 60: 0.9, 70: 0.95 })];
    const r = sc.score(s);
    close(r.standard!.threshold, 0.6, 'standard threshold');
    close(r.standard!.raw, TP(8, 10) - 0.22, 'standard raw');
    close(r.standard!.perFile['c/a.csv']!, TP(8, 10), 'per file a');
    close(r.standard!.perFile['c/b.csv']!, -0.22, 'per file b');
    close(r.reward_low_FP_rate!.raw, TP(8, 10) - 0.44, 'lowFP raw');
    // FPs at full weight 1: detecting nothing (-1) beats 0.977 - 2
    close(r.harsh!.threshold, 1.1, 'harsh threshold');
    close(r.harsh!.raw, -1, 'harsh raw');
    close(r.harsh!.normalized, 0, 'harsh normalized');
  });

  test('only the best detection in a window counts; a missed window costs fnWeight', () => {
    const two: ScorableFile = { key: 'c/t.csv', rows: 200, windows: [[50, 59], [150, 169]] };
    const sc = new NabScorer([two], PROFILES);
    const r = sc.score([scores(200, { 52: 0.7, 55: 0.9, 58: 0.8 })]);
    // thresholds 0.9 / 0.8 / 0.7 all give the same window value set; the highest wins ties
    close(r.standard!.threshold, 0.7, 'threshold');
    close(r.standard!.raw, TP(8, 10) - 1, 'raw');
    close(r.reward_low_FN_rate!.raw, TP(8, 10) - 2, 'lowFN raw');
    close(r.reward_low_FN_rate!.normalized, (100 * (TP(8, 10) - 2 + 4)) / (2 + 4), 'lowFN normalized');
  });

  test('windows inside the probation period are neither rewarded nor missed, but count for perfect', () => {
    const early: ScorableFile = { key: 'c/e.csv', rows: 100, windows: [[2, 8], [10, 19]] };
    const sc = new NabScorer([early], PROFILES);
    close(sc.nullRawScore('standard'), -1, 'null raw: only the partly scored window can be missed');
    const r = sc.score([scores(100, { 16: 0.5 })]);
    close(r.standard!.raw, TP(4, 10), 'raw');
    close(r.standard!.normalized, (100 * (TP(4, 10) + 1)) / (2 + 1), 'normalized with perfect = 2 windows');
  });

  test('rejects NaN scores and wrong lengths', () => {
    const sc = new NabScorer([win], PROFILES);
    assert.throws(() => sc.score([new Float64Array(99)]), RangeError);
    assert.throws(() => sc.score([scores(100, { 50: Number.NaN })]), RangeError);
  });
});
