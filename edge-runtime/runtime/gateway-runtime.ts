import { Encoder } from 'cbor-x';
import type { Clock, SourceRecord } from '../engine/types.ts';
import { systemClock } from '../engine/types.ts';
import type { PipelinePlan } from '../pipeline/plan.ts';
import { compilePipeline, type CompiledPipeline, type CompileOptions } from '../pipeline/compile.ts';
import type { CheckpointResult, StateKey, StateRow, StateStore } from '../state/store-types.ts';
import { OutboxColumns, StateColumns, sealCheckpoint } from '../state/checkpoint-columns.ts';
import type { AnyOperator, NamedState } from '../engine/operator.ts';
import { isKeyedState, type ColdStore, type KeyedStateOperator } from '../engine/keyed-state.ts';
import { MemoryGovernor, type MemoryBudget } from './memory-governor.ts';
import { GroupCommitLog, systemTimer, type GroupCommitOptions, type Timer } from '../state/group-commit-log.ts';
import { toOutboxInput } from './outbox-rows.ts';
import { WeirError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';

const cbor = new Encoder({ useRecords: false });
/** Row key of a non-keyed operator's whole state, and of a pipeline's plan fingerprint. */
const FULL = 'full';
const PLAN = 'plan';

interface PipelineFingerprint {
  plan: string;
  kinds: string[];
}

function fingerprint(p: CompiledPipeline): PipelineFingerprint {
  return { plan: JSON.stringify(p.plan), kinds: p.runner.operators.map((o) => o.kind) };
}

/**
 * Default of RuntimeOptions.checkpointMaxRows (`gateway.checkpointMaxRows`): with a memory budget,
 * one row per KiB of it (32 MB → 32,768 rows; a held row costs a few hundred bytes, so a checkpoint's
 * rows stay well under the budget); without one, 0 — memory is not bounded then anyway, and an early
 * checkpoint writes a key again that the next interval would have written once (measured: 20–35 %
 * fewer readings/s at saturation with 30,000 keys and a 20,000-row limit).
 */
export function defaultCheckpointMaxRows(memoryBudgetBytes: number | undefined): number {
  return memoryBudgetBytes === undefined ? 0 : Math.floor(memoryBudgetBytes / 1024);
}

export interface RuntimeOptions {
  readonly store: StateStore;
  readonly plans: readonly PipelinePlan[];
  readonly clock?: Clock;
  readonly timer?: Timer;
  /** Take a checkpoint this often (ms of the injected timer; default 1,000; 0 = only when asked). */
  readonly checkpointIntervalMs?: number;
  /**
   * Also checkpoint as soon as operators hold this many changed rows (0 = only on the interval;
   * default: defaultCheckpointMaxRows(memory.bytes)). Under key churn (many distinct keys per second, most of them spilled) a
   * checkpoint's rows are encoded in memory until its one transaction writes them: this bounds
   * that transient memory, and the transaction's length, by the number of rows, not by time.
   */
  readonly checkpointMaxRows?: number;
  /** Write a processing-time tick into the log this often (default 1,000; 0 = never). */
  readonly tickIntervalMs?: number;
  readonly groupCommit?: Omit<GroupCommitOptions, 'onCommitted' | 'timer' | 'clock'>;
  /** Operator state budget; without one, state grows with the number of keys. */
  readonly memory?: MemoryBudget;
  /** Where keyed operators spill (one namespace each); required for memory.policy 'spill'. */
  readonly coldStore?: (ns: string) => ColdStore;
  /** Log retention beyond what checkpoints consumed (trimmed after each checkpoint). */
  readonly retention?: { readonly maxBytes?: number; readonly maxAgeMs?: number };
  readonly logger?: Logger;
  /** What device profiles say about a series (valid range, sampling interval), for detectors. */
  readonly seriesContext?: CompileOptions['seriesContext'];
  /** Test hook: called at named points so crash tests can kill the process exactly there. */
  readonly probe?: (point: RuntimeProbe, detail: number) => void;
}

export type RuntimeProbe = 'segment-processed' | 'checkpoint-begin' | 'checkpoint-committed' | 'recovered';

export interface RuntimeStats {
  processedOffset: number;
  checkpoints: number;
  lastCheckpointMs: number;
  pendingOutbox: number;
  replayedRecords: number;
  failedCheckpoints: number;
  /** Checkpoints started early because checkpointMaxRows changed rows were waiting. */
  earlyCheckpoints: number;
}

/**
 * The gateway's processing loop around the durable log:
 *
 *   append → group commit (durable) → pipelines (from memory) → outputs
 *   every checkpointInterval: { operator state, consumed offset, outbox rows } in ONE transaction
 *
 * Recovery: load the last checkpoint's state, replay the log after its
 * offset. Segments are replayed with the boundaries they were committed with,
 * and operators are deterministic, so a process killed at any point and
 * restarted writes exactly the outbox a process never killed would.
 */
export class GatewayRuntime {
  readonly stats: RuntimeStats = { processedOffset: 0, checkpoints: 0, lastCheckpointMs: 0, pendingOutbox: 0, replayedRecords: 0, failedCheckpoints: 0, earlyCheckpoints: 0 };
  private readonly pipelines: CompiledPipeline[];
  private readonly clock: Clock;
  private readonly timer: Timer;
  private readonly logger: Logger;
  private readonly probe: (point: RuntimeProbe, detail: number) => void;
  private log!: GroupCommitLog;
  /** Outbox rows produced since the last checkpoint, as columns (no object per row waits for the commit). */
  private pending = new OutboxColumns();
  /** The last checkpoint's state rows and bytes: the next one's columns are sized for about as many. */
  private stateSizeHint: { count: number; bytes: number } | undefined = undefined;
  private checkpointId = 0;
  private checkpointedOffset = 0; // log offsets start at 1
  private chain: Promise<unknown> = Promise.resolve();
  private cpTimer: unknown = null;
  private tickTimer: unknown = null;
  private closed = false;
  private failure: unknown = null;
  readonly governor: MemoryGovernor | null;
  /** State changes of a checkpoint that failed to commit, to write with the next one. */
  private carry: { upserts: StateRow[]; prefixes: StateKey[] } | null = null;
  /** Whole namespaces to delete at the next checkpoint (state of pipelines whose plan changed). */
  private dropNamespaces: StateKey[] = [];
  private readonly keyed: KeyedStateOperator[];
  private readonly maxDeltaRows: number;
  /** An early (row-count) checkpoint is queued or running: do not queue another. */
  private earlyCheckpoint = false;

  private constructor(private readonly opts: RuntimeOptions) {
    this.pipelines = opts.plans.map((p) => compilePipeline(p, opts.seriesContext ? { seriesContext: opts.seriesContext } : {}));
    this.clock = opts.clock ?? systemClock;
    this.timer = opts.timer ?? systemTimer;
    this.logger = opts.logger ?? silentLogger;
    this.probe = opts.probe ?? (() => {});
    const keyed: (KeyedStateOperator & { attachColdStore?(c: ColdStore): void })[] = [];
    const fixed: AnyOperator[] = [];
    for (const p of this.pipelines) {
      p.runner.operators.forEach((op, i) => {
        if (isKeyedState(op)) {
          keyed.push(op);
          if (opts.coldStore) (op as { attachColdStore?(c: ColdStore): void }).attachColdStore?.(opts.coldStore(nsOf(p, i)));
        } else fixed.push(op);
      });
    }
    this.keyed = keyed;
    this.maxDeltaRows = opts.checkpointMaxRows ?? defaultCheckpointMaxRows(opts.memory?.bytes);
    if (opts.memory !== undefined && (opts.memory.policy ?? 'spill') === 'spill' && opts.coldStore === undefined) {
      throw new WeirError('E_CONFIG', 'memory policy "spill" needs a cold store');
    }
    this.governor = opts.memory === undefined ? null : new MemoryGovernor(opts.memory, keyed, () => fixed.reduce((a, o) => a + o.stateBytes(), 0));
  }

  /** Restores the last checkpoint, replays the log after it, then accepts new records. */
  static async start(opts: RuntimeOptions): Promise<GatewayRuntime> {
    const rt = new GatewayRuntime(opts);
    await rt.recover();
    rt.log = new GroupCommitLog(opts.store, {
      ...opts.groupCommit,
      timer: rt.timer,
      clock: rt.clock,
      onCommitted: (records, firstOffset) => rt.process(records, firstOffset + records.length - 1),
    });
    rt.schedule();
    return rt;
  }

  private async recover(): Promise<void> {
    const { store } = this.opts;
    await store.spillClear();
    const cp = await store.loadCheckpoint();
    if (cp !== null) {
      this.checkpointId = cp.checkpointId;
      this.checkpointedOffset = this.stats.processedOffset = cp.consumedOffset;
      await this.restoreState(cp.checkpointId);
    }
    const from = this.stats.processedOffset + 1;
    let replayed = 0;
    for await (const seg of store.readFrom(from)) {
      const skip = Math.max(0, this.stats.processedOffset + 1 - seg.firstOffset);
      const records = skip > 0 ? seg.records.slice(skip) : seg.records;
      this.process(records, seg.lastOffset);
      replayed += records.length;
    }
    this.stats.replayedRecords = replayed;
    this.logger.log('info', 'recovered', { checkpointId: this.checkpointId, fromOffset: from, replayedRecords: replayed });
    this.probe('recovered', replayed);
  }

  /** Loads every state row of the last checkpoint into its operator (keyed rows one by one, under the budget). */
  private async restoreState(checkpointId: number): Promise<void> {
    const byNs = new Map<string, { p: CompiledPipeline; op: AnyOperator | null }>();
    for (const p of this.pipelines) {
      byNs.set(p.plan.name, { p, op: null });
      p.runner.operators.forEach((op, i) => byNs.set(nsOf(p, i), { p, op }));
    }
    const skip = new Set<string>(); // pipelines whose plan changed: start fresh
    const begun = new Set<AnyOperator>();
    let n = 0;
    for await (const row of this.opts.store.loadState()) {
      const target = byNs.get(row.ns);
      const pipeline = row.ns.split('/')[0]!;
      if (target === undefined) {
        if (!skip.has(pipeline)) {
          skip.add(pipeline);
          this.logger.log('warn', 'checkpointed state of a pipeline that is no longer configured is dropped', { pipeline });
          this.dropNamespaces.push({ ns: row.ns, key: '' });
        } else this.dropNamespaces.push({ ns: row.ns, key: '' });
        continue;
      }
      if (skip.has(pipeline)) {
        this.dropNamespaces.push({ ns: row.ns, key: '' });
        continue;
      }
      try {
        const value = cbor.decode(row.value) as unknown;
        if (target.op === null) {
          // Rows sort by namespace: a pipeline's plan row comes before its operators' rows.
          const want = fingerprint(target.p);
          const got = value as PipelineFingerprint;
          if (row.key === PLAN && got.plan !== want.plan) {
            skip.add(pipeline);
            this.logger.log('warn', 'pipeline changed since the last checkpoint: its state starts fresh', { pipeline });
            for (let i = 0; i < target.p.runner.operators.length; i++) this.dropNamespaces.push({ ns: nsOf(target.p, i), key: '' });
          }
          continue;
        }
        const op = target.op;
        if (isKeyedState(op)) {
          if (!begun.has(op)) {
            op.beginRestore();
            begun.add(op);
          }
          op.restoreRow(row.key, value);
          if (++n % 4096 === 0) this.governor?.enforce();
        } else if (row.key === FULL) {
          op.restore(value as NamedState);
        }
      } catch (e) {
        throw new WeirError('E_STATE_VERSION', `cannot restore ${row.ns} from checkpoint ${checkpointId}: ${(e as Error).message}`, { cause: e });
      }
    }
    this.governor?.enforce();
  }

  /** The one place records meet pipelines: a committed segment, in offset order. */
  private process(records: readonly SourceRecord[], lastOffset: number): void {
    if (records.length === 0) return;
    for (const p of this.pipelines) {
      const outs = p.runner.push(records);
      for (const o of outs) this.pending.push(toOutboxInput(o));
    }
    this.stats.processedOffset = lastOffset;
    this.stats.pendingOutbox = this.pending.length;
    this.governor?.enforce();
    this.probe('segment-processed', lastOffset);
    if (this.maxDeltaRows > 0 && !this.earlyCheckpoint && !this.closed && this.deltaRows() >= this.maxDeltaRows) {
      // Checkpoint timing never changes results (recovery replays from whichever offset committed last).
      this.earlyCheckpoint = true;
      this.stats.earlyCheckpoints++;
      this.checkpoint()
        .catch((e: unknown) => this.logger.log('error', 'checkpoint error', { error: (e as Error).message }))
        .finally(() => {
          this.earlyCheckpoint = false;
        });
    }
  }

  private deltaRows(): number {
    let n = this.pending.length;
    for (const op of this.keyed) n += op.deltaSize();
    return n;
  }

  /** Appends a record to the durable log; resolves with its offset once durable (then ack the device). */
  append(record: SourceRecord): Promise<number> {
    this.check();
    return this.log.append(record);
  }

  /** Appends records to one segment (durable together, consecutive offsets); resolves with the first one's offset once durable. */
  appendBatch(records: readonly SourceRecord[]): Promise<number> {
    this.check();
    return this.log.appendBatch(records);
  }

  get writable(): boolean {
    return this.log.writable;
  }

  drained(): Promise<void> {
    return this.log.drained();
  }

  /** Writes a processing-time tick (the clock is read here, at ingest, never in operators). */
  tick(): Promise<number> {
    return this.append({ type: 'tick', processingTime: this.clock.now() });
  }

  /** Takes a checkpoint of everything processed so far. Checkpoints run one at a time, in order. */
  checkpoint(): Promise<CheckpointResult | null> {
    const run = this.chain.then(() => this.doCheckpoint());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doCheckpoint(): Promise<CheckpointResult | null> {
    const offset = this.stats.processedOffset;
    if (offset === this.checkpointedOffset && this.pending.length === 0) return null;
    const id = this.checkpointId + 1;
    const t0 = performance.now();
    // Barrier: state and outbox are captured together, synchronously, at `offset`.
    // Each changed row is encoded and copied into the columns as the operator hands it out.
    let state = new StateColumns(this.stateSizeHint);
    let stateDeletePrefixes: StateKey[] = this.dropNamespaces;
    this.dropNamespaces = [];
    for (const p of this.pipelines) {
      state.push(p.plan.name, PLAN, cbor.encode(fingerprint(p)));
      p.runner.operators.forEach((op, i) => {
        const ns = nsOf(p, i);
        if (isKeyedState(op)) {
          const d = op.drainDelta((key, v) => state.push(ns, key, cbor.encode(v)));
          for (const key of d.deletePrefixes) stateDeletePrefixes.push({ ns, key });
        } else {
          state.push(ns, FULL, cbor.encode(op.snapshot()));
        }
      });
    }
    if (this.carry !== null) {
      const merged = mergeCarry(this.carry, state.rows(), stateDeletePrefixes);
      state = StateColumns.of(merged.upserts);
      stateDeletePrefixes = merged.prefixes;
    }
    this.stateSizeHint = state.sizeHint();
    const outbox = this.pending;
    this.pending = new OutboxColumns();
    this.probe('checkpoint-begin', id);
    let res: CheckpointResult;
    try {
      res = await this.opts.store.commitPackedCheckpoint(sealCheckpoint({ checkpointId: id, consumedOffset: offset, nowMs: this.clock.now() }, state, outbox, [], stateDeletePrefixes));
      this.carry = null;
    } catch (e) {
      // Nothing of it was committed (e.g. E_DISK_FULL). Operators already handed out their
      // changes, so keep them for the next attempt; the outbox rows go back in front, in order.
      this.carry = { upserts: state.rows(), prefixes: stateDeletePrefixes };
      this.pending = outbox.concat(this.pending);
      this.stats.failedCheckpoints++;
      this.logger.log('error', 'checkpoint failed; will retry', { checkpointId: id, code: (e as { code?: string }).code, error: (e as Error).message });
      throw e;
    }
    this.checkpointId = id;
    this.checkpointedOffset = offset;
    this.lastCommitAt = Date.now();
    this.stats.checkpoints++;
    this.stats.lastCheckpointMs = performance.now() - t0;
    this.stats.pendingOutbox = this.pending.length;
    this.probe('checkpoint-committed', id);
    for (const fn of this.checkpointListeners) {
      try {
        fn(id);
      } catch (e) {
        this.logger.log('error', 'checkpoint listener failed', { error: (e as Error).message });
      }
    }
    await this.opts.store.trimLog({
      consumedOffset: offset,
      nowMs: this.clock.now(),
      ...(this.opts.retention?.maxBytes !== undefined ? { maxBytes: this.opts.retention.maxBytes } : {}),
      ...(this.opts.retention?.maxAgeMs !== undefined ? { maxAgeMs: this.opts.retention.maxAgeMs } : {}),
    });
    return res;
  }

  private schedule(): void {
    const cpEvery = this.opts.checkpointIntervalMs ?? 1000;
    const tickEvery = this.opts.tickIntervalMs ?? 1000;
    if (cpEvery > 0) {
      const loop = (): void => {
        this.cpTimer = this.timer.set(() => {
          if (this.closed) return;
          this.checkpoint().then(loop, (e) => {
            this.logger.log('error', 'checkpoint error', { error: (e as Error).message });
            loop();
          });
        }, cpEvery);
      };
      loop();
    }
    if (tickEvery > 0) {
      const loop = (): void => {
        this.tickTimer = this.timer.set(() => {
          if (this.closed) return;
          // A full log refuses appends by throwing (E_LOG_BACKPRESSURE), which would escape this timer and
          // end the process. Skip the tick instead: readings are flowing, and the next tick carries time on.
          if (this.log.writable) this.tick().catch((e: unknown) => this.logger.log('warn', 'tick not written', { error: (e as Error).message }));
          loop();
        }, tickEvery);
      };
      loop();
    }
  }

  private check(): void {
    if (this.closed) throw new WeirError('E_USAGE', 'runtime is closed');
    if (this.failure !== null) throw this.failure;
  }

  /** Clean shutdown: stop timers, commit what is pending in the log, take a final checkpoint. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.cpTimer !== null) this.timer.clear(this.cpTimer);
    if (this.tickTimer !== null) this.timer.clear(this.tickTimer);
    await this.log.close();
    await this.checkpoint();
  }

  /** Called after every committed checkpoint (the uplink looks at the outbox at once). */
  onCheckpoint(fn: (checkpointId: number) => void): void {
    this.checkpointListeners.push(fn);
  }
  private readonly checkpointListeners: ((checkpointId: number) => void)[] = [];

  /** The largest processing-time minus watermark over pipelines, ms (null before any data). */
  watermarkLagMs(): number | null {
    let lag: number | null = null;
    for (const p of this.pipelines) {
      const w = p.watermark.current;
      if (Number.isFinite(w.time) && Number.isFinite(w.processingTime)) lag = Math.max(lag ?? 0, w.processingTime - w.time);
    }
    return lag;
  }

  /** The compiled pipelines (for metrics: counters, watermarks, state). */
  get compiled(): readonly CompiledPipeline[] {
    return this.pipelines;
  }

  /** Wall-clock ms since the last committed checkpoint (for health checks). */
  get lastCheckpointAt(): number {
    return this.lastCommitAt;
  }
  private lastCommitAt = Date.now();

  /** Why the runtime stopped accepting records (a failed checkpoint), or null. */
  get failed(): unknown {
    return this.failure;
  }

  /** Live operator state in bytes (approximate), for budgets and metrics. */
  stateBytes(): number {
    return this.pipelines.reduce((a, p) => a + p.runner.stateBytes(), 0);
  }
}

function nsOf(p: CompiledPipeline, i: number): string {
  return `${p.plan.name}/${i}`;
}

/**
 * Folds a failed checkpoint's changes under a new one's: newer rows win; an old
 * row under a prefix the new checkpoint deletes is dropped (its window closed).
 */
function mergeCarry(carry: { upserts: StateRow[]; prefixes: StateKey[] }, upserts: StateRow[], prefixes: StateKey[]): { upserts: StateRow[]; prefixes: StateKey[] } {
  const rows = new Map<string, StateRow>();
  for (const r of carry.upserts) {
    if (!prefixes.some((p) => p.ns === r.ns && r.key.startsWith(p.key))) rows.set(r.ns + '\u0000' + r.key, r);
  }
  for (const r of upserts) rows.set(r.ns + '\u0000' + r.key, r);
  return { upserts: [...rows.values()], prefixes: [...carry.prefixes, ...prefixes] };
}
