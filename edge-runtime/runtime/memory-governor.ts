import type { KeyedStateOperator } from '../engine/keyed-state.ts';

export type MemoryPolicy = 'spill' | 'refuse-new-keys';

export interface MemoryBudget {
  /** Bytes of operator state allowed in memory. */
  readonly bytes: number;
  /** Over budget: move cold keys to disk (default), or refuse readings of new keys (counted). */
  readonly policy?: MemoryPolicy;
}

export interface GovernorStats {
  /** Operator state in memory after the last enforcement (bytes). */
  stateBytes: number;
  peakStateBytes: number;
  evictions: number;
  evictedBytes: number;
  spilledRows: number;
  refusedReadings: number;
  refusing: boolean;
}

/**
 * Keeps keyed operator state under a memory budget (DESIGN invariant 5).
 * Called between batches, never inside one: over the budget, `spill` evicts
 * cold rows down to 90 % of it, largest operators first; `refuse-new-keys`
 * switches operators to refusing readings of keys they do not hold until
 * state falls under 90 %.
 */
export class MemoryGovernor {
  readonly stats: GovernorStats = { stateBytes: 0, peakStateBytes: 0, evictions: 0, evictedBytes: 0, spilledRows: 0, refusedReadings: 0, refusing: false };
  private readonly policy: MemoryPolicy;

  constructor(
    private readonly budget: MemoryBudget,
    private readonly ops: readonly (KeyedStateOperator & { setRefusing?(on: boolean): void })[],
    /** State held by operators that cannot spill (counted against the budget all the same). */
    private readonly fixedBytes: () => number = () => 0,
  ) {
    this.policy = budget.policy ?? 'spill';
  }

  enforce(): void {
    let total = this.fixedBytes();
    for (const op of this.ops) total += op.memoryBytes();
    if (total > this.stats.peakStateBytes) this.stats.peakStateBytes = total;
    const low = this.budget.bytes * 0.9;
    if (this.policy === 'spill') {
      if (total > this.budget.bytes) {
        let excess = total - low;
        const bySize = [...this.ops].sort((a, b) => b.memoryBytes() - a.memoryBytes());
        for (const op of bySize) {
          if (excess <= 0) break;
          const freed = op.evict(Math.min(excess, op.memoryBytes()));
          excess -= freed;
          total -= freed;
          this.stats.evictedBytes += freed;
        }
        this.stats.evictions++;
      }
    } else {
      const refusing = this.stats.refusing ? total > low : total > this.budget.bytes;
      if (refusing !== this.stats.refusing) {
        this.stats.refusing = refusing;
        for (const op of this.ops) op.setRefusing?.(refusing);
      }
    }
    this.stats.stateBytes = total;
    this.stats.spilledRows = this.ops.reduce((a, op) => a + op.spilledRows(), 0);
    this.stats.refusedReadings = this.ops.reduce((a, op) => a + op.refusedReadings(), 0);
  }
}
