/**
 * DESIGN invariant 5, bounded memory: 1,000,000 distinct keys under a 32 MB
 * state budget give exactly the results of unbounded memory — cold keys
 * spill to a SQLite scratch file and come back when touched or fired.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipeline } from '../edge-runtime/pipeline/compile.ts';
import { SPILL_PLAN, spillBatches } from '../edge-runtime/bench/spill-scenario.ts';
import type { KeyedStateOperator } from '../edge-runtime/engine/keyed-state.ts';
import { MemoryGovernor } from '../edge-runtime/runtime/memory-governor.ts';
import { SqliteColdStores } from '../edge-runtime/state/cold-store.ts';

const KEYS = 1_000_000;
const BUDGET = 32 * 1024 * 1024;

function digest(spill: SqliteColdStores | null): { hash: string; outputs: number; peak: number; spilled: number } {
  const c = compilePipeline(SPILL_PLAN);
  const op = c.window as unknown as KeyedStateOperator & { attachColdStore(s: unknown): void };
  let governor: MemoryGovernor | null = null;
  if (spill !== null) {
    op.attachColdStore(spill.forNamespace('spill/1'));
    governor = new MemoryGovernor({ bytes: BUDGET }, [op]);
  }
  const h = createHash('sha256');
  let outputs = 0;
  let spilled = 0;
  const take = (outs: readonly unknown[]): void => {
    for (const o of outs) h.update(JSON.stringify(o) + '\n');
    outputs += outs.length;
  };
  for (const b of spillBatches(KEYS)) {
    take(c.runner.push(b));
    governor?.enforce();
    spilled = Math.max(spilled, op.spilledRows());
  }
  take(c.runner.end());
  return { hash: h.digest('hex'), outputs, peak: governor?.stats.peakStateBytes ?? op.memoryBytes(), spilled };
}

test('1,000,000 keys under a 32 MB state budget: the same results as unbounded memory', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-spill-'));
  const cold = new SqliteColdStores(join(dir, 'spill.db'));
  try {
    const unbounded = digest(null);
    assert.ok(unbounded.outputs >= KEYS, `expected ≥ 1M window results, got ${unbounded.outputs}`);
    const bounded = digest(cold);
    assert.ok(bounded.spilled > KEYS / 2, `most keys should have spilled, got ${bounded.spilled}`);
    // Enforcement runs between batches: state may pass the budget by one batch's new rows.
    assert.ok(bounded.peak <= BUDGET + 4096 * 256, `state peaked at ${bounded.peak} B`);
    assert.equal(bounded.outputs, unbounded.outputs);
    assert.equal(bounded.hash, unbounded.hash);
  } finally {
    cold.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
