/**
 * Throughput of the sketches' hot paths (not a test). Run:
 *   node --import tsx edge-runtime/engine/sketch/sketch-bench.ts
 * Prints the median of 5 rounds per case. Inputs are generated beforehand with
 * a fixed-seed generator, so only the sketch work is timed.
 */
import { DDSketch } from './ddsketch.ts';
import { HyperLogLog } from './hyperloglog.ts';
import { seededRandom as rng } from '../../../cloud-sync/seeded-random.ts';


function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function bench(name: string, ops: number, round: () => void): void {
  round(); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    round();
    const ns = Number(process.hrtime.bigint() - t0);
    rates.push((ops / ns) * 1e9);
  }
  console.log(`${name.padEnd(52)} ${(median(rates) / 1e6).toFixed(2).padStart(7)} M ops/s`);
}

const N = 1_000_000;
const rand = rng(42);
const sensor = new Float64Array(N); // temperatures around 21.5 with noise, 1% negative
const wide = new Float64Array(N); // log-uniform magnitudes over 1e-3..1e6, both signs
for (let i = 0; i < N; i++) {
  sensor[i] = 21.5 + (rand() - 0.5) * 8 - (rand() < 0.01 ? 30 : 0);
  wide[i] = (rand() < 0.5 ? -1 : 1) * 10 ** (rand() * 9 - 3);
}
let sink = 0;

for (const [label, data] of [['sensor-like values', sensor], ['log-uniform ±1e-3..1e6', wide]] as const) {
  bench(`DDSketch.add, ${label}`, N, () => {
    const s = new DDSketch();
    for (let i = 0; i < N; i++) s.add(data[i]!);
    sink += s.count;
  });
}

bench('DDSketch.add, 1,000 sketches of 1,000 values', N, () => {
  for (let k = 0; k < 1000; k++) {
    const s = new DDSketch();
    for (let i = k * 1000, e = i + 1000; i < e; i++) s.add(wide[i]!);
    sink += s.count;
  }
});

{
  const s = new DDSketch();
  for (let i = 0; i < N; i++) s.add(wide[i]!);
  const Q = 100_000;
  bench(`DDSketch.quantile (${s.toState().posCounts.length}+${s.toState().negCounts.length} bins)`, Q, () => {
    for (let i = 0; i < Q; i++) sink += s.quantile((i % 100) / 100)!;
  });
  const parts = Array.from({ length: 100 }, (_, k) => {
    const p = new DDSketch();
    for (let i = k * 10_000, e = i + 10_000; i < e; i++) p.add(wide[i]!);
    return p;
  });
  bench('DDSketch.merge (sketches of 10,000 values)', parts.length, () => {
    const acc = new DDSketch();
    for (const p of parts) acc.merge(p);
    sink += acc.count;
  });
}

const ids: string[] = [];
for (let i = 0; i < 100_000; i++) ids.push(`gw-7/sensor-${(rand() * 1e6) | 0}`);
const H = 1_000_000;
bench('HyperLogLog.add, strings of ~18 chars (100k ids)', H, () => {
  const h = new HyperLogLog();
  for (let i = 0; i < H; i++) h.add(ids[i % ids.length]!);
  sink += h.estimate();
});
bench('HyperLogLog.add, numbers', H, () => {
  const h = new HyperLogLog();
  for (let i = 0; i < H; i++) h.add(sensor[i]!);
  sink += h.estimate();
});
bench('HyperLogLog.add, 50 distinct strings (sparse)', H, () => {
  const h = new HyperLogLog();
  for (let i = 0; i < H; i++) h.add(ids[i % 50]!);
  sink += h.estimate();
});
{
  const h = new HyperLogLog();
  for (const id of ids) h.add(id);
  const state = h.toState();
  const E = 2_000;
  const fresh = Array.from({ length: 6 * E }, () => HyperLogLog.fromState(state)); // no cached estimate
  let next = 0;
  bench('HyperLogLog.estimate, p = 12, dense, not cached', E, () => {
    for (let i = 0; i < E; i++) sink += fresh[next++]!.estimate();
  });
}
if (sink === 42) console.log('');
