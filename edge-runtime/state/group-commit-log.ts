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

/** An append waiting for its segment to commit: one record's (append) or a run of them (appendBatch). */
interface Waiter {
  /** Position of the (first) record in the segment: its offset is the segment's first offset + at. */
  readonly at: number;
  readonly resolve: (offset: number) => void;
  readonly reject: (e: unknown) => void;
}

interface Batch {
  readonly records: SourceRecord[];
  readonly waiters: Waiter[];
}

/**
 * Group commit for the ingest log: `append(record)` resolves with the
 * record's offset only after the segment holding it committed (so a
 * protocol ack sent then is for a durable reading, DESIGN invariant 1).
 * `appendBatch(records)` does the same for a run of records with one promise
 * (the ingest hot path: one per socket read, not one per reading), and puts
 * them all in one segment, so they commit or fail together.
 * A batch is flushed when it holds maxBatchRecords or maxDelayMs after its
 * first record, whichever comes first.
 *
 * Bounded: at most maxPendingRecords are accepted and not yet committed
 * (plus the rest of the appendBatch that reached the bound: a caller bounds
 * its batches). At that point `writable` is false and appends throw
 * E_LOG_BACKPRESSURE instead of queueing; the caller pauses its sources and
 * awaits drained(), which resolves once pending records fall to half the bound.
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
    this.admit();
    const b = this.current;
    const at = b.records.length;
    const p = new Promise<number>((resolve, reject) => b.waiters.push({ at, resolve, reject }));
    b.records.push(record);
    this.pendingRecords++;
    this.added(b, at);
    return p;
  }

  /**
   * Appends `records` (at least one) to one segment, in order, at consecutive offsets; resolves with
   * the first one's offset once that segment committed, or rejects if it failed (then none of them is
   * durable). Throws E_LOG_BACKPRESSURE when not writable.
   */
  appendBatch(records: readonly SourceRecord[]): Promise<number> {
    if (records.length === 0) throw new StateError('E_STATE_ARGUMENT', 'appendBatch needs at least one record');
    this.admit();
    const b = this.current;
    const at = b.records.length;
    const p = new Promise<number>((resolve, reject) => b.waiters.push({ at, resolve, reject }));
    for (let i = 0; i < records.length; i++) b.records.push(records[i]!);
    this.pendingRecords += records.length;
    this.added(b, at);
    return p;
  }

  /** Throws unless an append may be accepted now. */
  private admit(): void {
    if (this.closed) throw new StateError('E_STATE_CLOSED', 'group commit log is closed');
    if (this.pendingRecords >= this.maxPending) {
      this.stats.backpressureRefusals++;
      throw new StateError('E_LOG_BACKPRESSURE', `${this.pendingRecords} records pending: await drained() before appending`);
    }
  }

  /** After records were added to `b` from position `at`: flush it when full, or arm its timer when they are its first. */
  private added(b: Batch, at: number): void {
    if (b.records.length >= this.maxBatch) this.seal();
    else if (at === 0) this.timerHandle = this.timer.set(() => this.onTimer(), this.maxDelay);
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
      for (const w of batch.waiters) w.resolve(r.firstOffset + w.at);
    } else {
      this.stats.failedBatches++;
      this.stats.failedRecords += n;
      for (const w of batch.waiters) w.reject(error);
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
  return { records: [], waiters: [] };
}
