import type { Clock, SourceRecord } from '../engine/types.ts';
import { systemClock } from '../engine/types.ts';
import { StateError } from './state-errors.ts';
import type { AppendResult, StateStore } from './store-types.ts';

/** setTimeout/clearTimeout, injectable so tests move time by hand. */
export interface Timer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimer: Timer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface GroupCommitOptions {
  /** Flush when this many records are waiting (default 1,000). */
  readonly maxBatchRecords?: number;
  /** Flush this long after the first record of a batch arrived (default 5 ms). */
  readonly maxDelayMs?: number;
  /** Records accepted but not yet committed, at most (default 20,000). At this level `writable` turns false. */
  readonly maxPendingRecords?: number;
  /** Batches handed to the store and not yet answered, at most (default 2: one committing, one queued). */
  readonly maxInFlightBatches?: number;
  readonly timer?: Timer;
  /** Stamps each segment's created_at_ms (retention by age). */
  readonly clock?: Clock;
  /** The live path: called with each committed batch, in offset order, before the appends resolve. */
  readonly onCommitted?: (records: readonly SourceRecord[], firstOffset: number) => void;
}

interface Batch {
  readonly records: SourceRecord[];
  readonly resolvers: ((offset: number) => void)[];
  readonly rejecters: ((e: unknown) => void)[];
}

/**
 * Group commit for the ingest log: `append(record)` resolves with the
 * record's offset only after the segment holding it committed (so a
 * protocol ack sent then is for a durable reading, DESIGN invariant 1).
 * A batch is flushed when it holds maxBatchRecords or maxDelayMs after its
 * first record, whichever comes first.
 *
 * Bounded: at most maxPendingRecords are accepted and not yet committed.
 * At that point `writable` is false and append() throws E_LOG_BACKPRESSURE
 * instead of queueing; the caller pauses its sources and awaits drained(),
 * which resolves once pending records fall to half the bound.
 *
 * A failed batch (e.g. E_DISK_FULL) rejects the appends of that batch only;
 * later batches are tried normally, so ingest resumes when space returns.
 */
export class GroupCommitLog {
  private readonly maxBatch: number;
  private readonly maxDelay: number;
  private readonly maxPending: number;
  private readonly maxInFlight: number;
  private readonly timer: Timer;
  private readonly clock: Clock;
  private readonly onCommitted: ((records: readonly SourceRecord[], firstOffset: number) => void) | undefined;
  private current: Batch = newBatch();
  private timerHandle: unknown = null;
  private inFlight = 0;
  private pendingRecords = 0;
  private readonly ready: Batch[] = [];
  private drainWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  /** Counters for metrics. */
  readonly stats = { batches: 0, records: 0, failedBatches: 0, failedRecords: 0, backpressureRefusals: 0 };

  constructor(private readonly store: Pick<StateStore, 'appendSegment'>, options: GroupCommitOptions = {}) {
    this.maxBatch = options.maxBatchRecords ?? 1000;
    this.maxDelay = options.maxDelayMs ?? 5;
    this.maxPending = options.maxPendingRecords ?? 20_000;
    this.maxInFlight = options.maxInFlightBatches ?? 2;
    this.timer = options.timer ?? systemTimer;
    this.clock = options.clock ?? systemClock;
    this.onCommitted = options.onCommitted;
    if (this.maxPending < this.maxBatch) {
      throw new StateError('E_STATE_ARGUMENT', 'maxPendingRecords must be at least maxBatchRecords');
    }
  }

  /** False while maxPendingRecords are pending: do not append, await drained(). */
  get writable(): boolean {
    return !this.closed && this.pendingRecords < this.maxPending;
  }

  get pending(): number {
    return this.pendingRecords;
  }

  /** Resolves with the record's log offset once its segment committed. Throws E_LOG_BACKPRESSURE when not writable. */
  append(record: SourceRecord): Promise<number> {
    if (this.closed) throw new StateError('E_STATE_CLOSED', 'group commit log is closed');
    if (this.pendingRecords >= this.maxPending) {
      this.stats.backpressureRefusals++;
      throw new StateError('E_LOG_BACKPRESSURE', `${this.pendingRecords} records pending: await drained() before appending`);
    }
    const b = this.current;
    const p = new Promise<number>((resolve, reject) => {
      b.resolvers.push(resolve);
      b.rejecters.push(reject);
    });
    b.records.push(record);
    this.pendingRecords++;
    if (b.records.length >= this.maxBatch) this.seal();
    else if (b.records.length === 1) this.timerHandle = this.timer.set(() => this.onTimer(), this.maxDelay);
    return p;
  }

  /** Resolves when pending records are at or below half of maxPendingRecords. */
  drained(): Promise<void> {
    if (this.pendingRecords <= this.maxPending / 2) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Flushes what is waiting now and resolves when everything accepted so far committed (or failed). */
  flush(): Promise<void> {
    if (this.current.records.length > 0) this.seal();
    if (this.pendingRecords === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes, then refuses further appends. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private onTimer(): void {
    this.timerHandle = null;
    if (this.current.records.length > 0) this.seal();
  }

  /** Closes the current batch and sends it when a slot is free. */
  private seal(): void {
    if (this.timerHandle !== null) {
      this.timer.clear(this.timerHandle);
      this.timerHandle = null;
    }
    this.ready.push(this.current);
    this.current = newBatch();
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.ready.length > 0) {
      const batch = this.ready.shift()!;
      this.inFlight++;
      this.store.appendSegment(batch.records, this.clock.now()).then(
        (r) => this.settle(batch, r, null),
        (e: unknown) => this.settle(batch, null, e),
      );
    }
  }

  private settle(batch: Batch, r: AppendResult | null, error: unknown): void {
    this.inFlight--;
    const n = batch.records.length;
    this.pendingRecords -= n;
    if (r !== null) {
      this.stats.batches++;
      this.stats.records += n;
      try {
        this.onCommitted?.(batch.records, r.firstOffset);
      } catch (e) {
        // A bug in the live path must not strand the appends: resolve them, then fail loudly.
        queueMicrotask(() => {
          throw e;
        });
      }
      for (let i = 0; i < n; i++) batch.resolvers[i]!(r.firstOffset + i);
    } else {
      this.stats.failedBatches++;
      this.stats.failedRecords += n;
      for (const reject of batch.rejecters) reject(error);
    }
    this.pump();
    if (this.pendingRecords <= this.maxPending / 2 && this.drainWaiters.length > 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
    if (this.pendingRecords === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }
}

function newBatch(): Batch {
  return { records: [], resolvers: [], rejecters: [] };
}
