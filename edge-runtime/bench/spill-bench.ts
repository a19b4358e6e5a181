/**
 * The bounded-memory run of `npm run bench:state`, in its own process so its
 * RSS is its own: 1,000,000 distinct keys (two readings each, 10 s tumbling
 * count/sum/mean/max) under a 32 MB operator-state budget, spilling cold keys
 * to a SQLite scratch file. Input is generated batch by batch and outputs are
 * streamed to a counter, so what the RSS shows is the engine's own footprint.
 * Checkpoints drain the changed rows as the runtime does (every ~100,000
 * readings, or early at checkpointMaxRows changed rows; 0 = never early).
 * Prints one line `BENCH {json}`: spillPeakRssMb (VmHWM), state and spill
 * figures, and where memory was at the highest sampled RSS (V8 heap, buffers).
 *   node --expose-gc --import tsx edge-runtime/bench/spill-bench.ts [--keys N] [--budgetMb M] [--checkpointMaxRows R]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipeline } from '../pipeline/compile.ts';
import { SPILL_PLAN, spillBatches } from './spill-scenario.ts';
import type { KeyedStateOperator } from '../engine/keyed-state.ts';
import { MemoryGovernor } from '../runtime/memory-governor.ts';
import { defaultCheckpointMaxRows } from '../runtime/gateway-runtime.ts';
import { SqliteColdStores } from '../state/cold-store.ts';
import { arg, benchLine, round } from './bench-util.ts';
import { Encoder } from 'cbor-x';
import { OutboxColumns, StateColumns, sealCheckpoint } from '../state/checkpoint-columns.ts';

const cbor = new Encoder({ useRecords: false });
const KEYS = arg('keys', 1_000_000);
const BUDGET = arg('budgetMb', 32) * 1024 * 1024;
const MAX_ROWS = arg('checkpointMaxRows', defaultCheckpointMaxRows(BUDGET));

function vm(field: 'VmHWM' | 'VmRSS' | 'RssAnon' | 'RssFile', status = readFileSync('/proc/self/status', 'utf8')): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

const dir = mkdtempSync(join(tmpdir(), 'weir-spill-bench-'));
const cold = new SqliteColdStores(join(dir, 'spill.db'));
try {
  const baseRss = vm('VmRSS');
  const c = compilePipeline(SPILL_PLAN);
  const op = c.window as unknown as KeyedStateOperator & { attachColdStore(s: unknown): void };
  op.attachColdStore(cold.forNamespace('spill/1'));
  const governor = new MemoryGovernor({ bytes: BUDGET }, [op]);
  let outputs = 0;
  let deltaRows = 0;
  c.runner.setSink((outs) => {
    outputs += outs.length;
  });
  const t = performance.now();
  let n = 0;
  let checkpoints = 0;
  let largest = 0;
  let sizeHint: { count: number; bytes: number } | undefined;
  // Where the memory is when RSS peaks (sampled after each batch and each checkpoint): V8 heap, off-heap buffers, the rest (native: SQLite, code).
  let atPeak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  let anonAtPeak = 0;
  let fileAtPeak = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    if (m.rss <= atPeak.rss) return;
    atPeak = m;
    // Anonymous (private: heap, buffers, SQLite cache) vs file-backed (the node binary's pages, shared and reclaimable).
    const status = readFileSync('/proc/self/status', 'utf8');
    anonAtPeak = vm('RssAnon', status);
    fileAtPeak = vm('RssFile', status);
  };
  for (const b of spillBatches(KEYS)) {
    c.runner.push(b);
    governor.enforce();
    sample();
    // A checkpoint every ~100,000 readings (a second of ingest at 100k/s), or earlier once the
    // operator holds checkpointMaxRows changed rows, as GatewayRuntime does.
    if (++n % 25 === 0 || (MAX_ROWS > 0 && op.deltaSize() >= MAX_ROWS)) {
      // As doCheckpoint does: each changed row CBOR-encoded into the checkpoint's columns as the
      // operator hands it out, then sealed into the form that crosses to the storage worker.
      const rows = new StateColumns(sizeHint);
      op.drainDelta((key, v) => rows.push('spill/1', key, cbor.encode(v)));
      sizeHint = rows.sizeHint();
      const sealed = sealCheckpoint({ checkpointId: checkpoints + 1, consumedOffset: n }, rows, new OutboxColumns(), [], []);
      deltaRows += sealed.upsertKeys.ends.length;
      checkpoints++;
      largest = Math.max(largest, rows.length);
      sample();
    }
  }
  c.runner.end();
  const sec = (performance.now() - t) / 1000;
  const peak = vm('VmHWM');
  process.stderr.write(`spill: ${KEYS} keys, budget ${BUDGET / 1048576} MB: peak RSS ${round(peak, 1)} MB (start ${round(baseRss, 1)} MB), ` +
    `state peak ${round(governor.stats.peakStateBytes / 1048576, 1)} MB, ${outputs} results, ${round(sec, 1)} s\n`);
  benchLine({
    spillKeys: KEYS,
    spillBudgetMb: BUDGET / 1048576,
    spillPeakRssMb: round(peak, 1),
    spillStartRssMb: round(baseRss, 1),
    spillStatePeakMb: round(governor.stats.peakStateBytes / 1048576, 1),
    spillEvictions: governor.stats.evictions,
    spillResults: outputs,
    spillEventsPerSec: round((2 * KEYS) / sec),
    spillCheckpointRows: deltaRows,
    spillCheckpointMaxRows: MAX_ROWS,
    spillCheckpoints: checkpoints,
    spillLargestCheckpointRows: largest,
    spillAtPeakRssAnonMb: round(anonAtPeak, 1),
    spillAtPeakRssFileMb: round(fileAtPeak, 1),
    spillAtPeakHeapUsedMb: round(atPeak.heapUsed / 1048576, 1),
    spillAtPeakHeapTotalMb: round(atPeak.heapTotal / 1048576, 1),
    spillAtPeakExternalMb: round(atPeak.external / 1048576, 1),
    spillAtPeakArrayBuffersMb: round(atPeak.arrayBuffers / 1048576, 1),
  });
} finally {
  cold.close();
  rmSync(dir, { recursive: true, force: true });
}
