import fs from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { SourceRecord, Clock } from '../engine/types.ts';
import { systemClock } from '../engine/types.ts';
import type { SqlDatabase } from './sql-database.ts';
import { migrate, prepareSetMeta, SCHEMA_VERSION } from './schema.ts';
import { openWithRecovery, QuickCheckFailed } from './open-database.ts';
import { StateError, toStateError } from './state-errors.ts';
import { decodeSegment, encodeSegment } from './segment-codec.ts';
import { LogTable } from './log-table.ts';
import { CheckpointTable } from './checkpoint-table.ts';
import { OutboxTable } from './outbox-table.ts';
import { OutboxDegrader } from './outbox-degrade.ts';
import { CountersTable } from './counters-table.ts';
import { QuarantineTable } from './quarantine-table.ts';
import { mergePlan, type MergeOutput } from './window-merge.ts';
import { checkpointChunks } from './checkpoint-columns.ts';
import type { PackedCheckpoint } from './worker-protocol.ts';
import type {
  AckResult, AppendResult, CheckpointInfo, CheckpointInput, CheckpointResult, Durability, ImportCheckpointInput, LogSegment, LogStats, OpenReport,
  OutboxInput, OutboxRow, OutboxStats, QuarantineInput, QuarantineRow, QuarantineStats, RawSegment, ReadOutboxQuery,
  StateKey, StateRow, StateStoreOptions, TrimLogOptions, TrimLogResult,
} from './store-types.ts';

/**
 * THE module that talks to SQLite (better-sqlite3, synchronous). It owns one
 * connection; everything else in state/ sees only the SqlDatabase interface,
 * so changing the binding (e.g. to node:sqlite once Node 22 is the floor)
 * means changing this file. WAL journal; `synchronous` per options (see
 * Durability in store-types.ts for what each setting risks on a power cut).
 *
 * Automatic WAL checkpoints are off: the WAL is checkpointed (TRUNCATE) by
 * maintainWal() once it passes walCheckpointBytes, after the write that
 * grew it — or, in the storage worker, when the worker is idle — so a
 * 10,000-key checkpoint transaction does not pay for copying the WAL.
 */
export interface SqliteStoreOptions extends StateStoreOptions {
  readonly clock?: Clock;
  /** 'auto': maintainWal() after every write (default); 'manual': the owner calls it. */
  readonly walMaintenance?: 'auto' | 'manual';
  /** Test only: called inside the checkpoint transaction after each phase ('state', 'outbox'). */
  readonly onCheckpointPhase?: (phase: 'state' | 'outbox') => void;
}

/** A CheckpointInput whose upserts and outbox rows come in chunks (see SqliteStore.commitCheckpointChunks). */
export interface CheckpointChunks extends Omit<CheckpointInput, 'stateUpserts' | 'outbox'> {
  readonly stateUpserts: Iterable<readonly StateRow[]>;
  readonly outbox: Iterable<readonly OutboxInput[]>;
}

const DEFAULTS = {
  synchronous: 'FULL' as Durability,
  walCheckpointBytes: 4 * 1024 * 1024,
  cacheSizeKiB: 2048,
  outboxMaxBytes: 64 * 1024 * 1024,
  lowWaterRatio: 0.9,
  maxMergeSpanMs: 24 * 3600 * 1000,
  mergeSettleMs: 10 * 60 * 1000,
  quarantineMaxRows: 10_000,
  quarantineMaxBytes: 16 * 1024 * 1024,
} as const;

type Db = BetterSqlite3.Database;

/**
 * The native binding is loaded when the first database opens, not when this
 * module is imported: tools that never open one (weir replay, --help) run
 * without the compiled addon.
 */
let binding: typeof BetterSqlite3 | null = null;
function openBinding(file: string): Db {
  binding ??= createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  return new binding(file);
}

function synchronousOf(o: SqliteStoreOptions): Durability {
  const s = o.synchronous ?? DEFAULTS.synchronous;
  if (s !== 'NORMAL' && s !== 'FULL') throw new StateError('E_STATE_ARGUMENT', `synchronous must be NORMAL or FULL, got ${String(s)}`);
  return s;
}

function connect(file: string, o: SqliteStoreOptions): Db {
  const db = openBinding(file);
  try {
    db.pragma('journal_mode = WAL');
    const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
    if (problems.length !== 1 || problems[0] !== 'ok') throw new QuickCheckFailed(problems);
    db.pragma(`synchronous = ${synchronousOf(o)}`);
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`cache_size = -${Math.trunc(o.cacheSizeKiB ?? DEFAULTS.cacheSizeKiB)}`);
    if (o.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.trunc(o.maxPageCount)}`);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** better-sqlite3 seen through the binding-neutral interface the table modules use. */
function asSqlDatabase(db: Db): SqlDatabase {
  return {
    prepare: (sql) => db.prepare<unknown[]>(sql),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
  };
}

export class SqliteStore {
  readonly openReport: OpenReport;
  private readonly db: Db;
  private readonly sql: SqlDatabase;
  private readonly clock: Clock;
  private readonly log: LogTable;
  private readonly checkpoints: CheckpointTable;
  private readonly outbox: OutboxTable;
  private readonly degrader: OutboxDegrader;
  private readonly counters: CountersTable;
  private readonly quarantineTable: QuarantineTable;
  private readonly walPath: string | null;
  private closed = false;

  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(options);
  }

  private constructor(private readonly options: SqliteStoreOptions) {
    this.clock = options.clock ?? systemClock;
    synchronousOf(options);
    const { db, events } = openWithRecovery(options.path, (f) => connect(f, options), this.clock.now());
    this.db = db;
    this.sql = asSqlDatabase(db);
    this.walPath = options.path === ':memory:' ? null : `${options.path}-wal`;
    try {
      const found = migrate(this.sql, options.path);
      this.openReport = { path: options.path, foundSchemaVersion: found, schemaVersion: SCHEMA_VERSION, events };
      this.counters = new CountersTable(this.sql);
      this.log = new LogTable(this.sql);
      this.checkpoints = new CheckpointTable(this.sql);
      this.outbox = new OutboxTable(this.sql);
      const plans = new Map<string, MergeOutput[]>();
      for (const [pipeline, specs] of Object.entries(options.outbox?.windowSpecs ?? {})) plans.set(pipeline, mergePlan(specs));
      this.degrader = new OutboxDegrader(this.sql, this.outbox, this.counters, {
        maxBytes: options.outbox?.maxBytes ?? DEFAULTS.outboxMaxBytes,
        lowWaterRatio: options.outbox?.lowWaterRatio ?? DEFAULTS.lowWaterRatio,
        maxMergeSpanMs: options.outbox?.maxMergeSpanMs ?? DEFAULTS.maxMergeSpanMs,
        mergeSettleMs: options.outbox?.mergeSettleMs ?? DEFAULTS.mergeSettleMs,
        plans,
      });
      this.quarantineTable = new QuarantineTable(this.sql, this.counters,
        options.quarantine?.maxRows ?? DEFAULTS.quarantineMaxRows, options.quarantine?.maxBytes ?? DEFAULTS.quarantineMaxBytes);
    } catch (e) {
      db.close();
      throw toStateError(e, `open ${options.path}`);
    }
  }

  // ---- plumbing --------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StateError('E_STATE_CLOSED', `state store ${this.options.path} is closed`);
  }

  /**
   * Runs fn in one transaction; on failure it is rolled back, in-memory
   * totals reloaded, the error mapped. `durable: false` (spill only) commits
   * without syncing the WAL: the next durable commit syncs those frames too,
   * and a power cut before it loses only spill, which recovery clears anyway.
   */
  private write<R>(op: string, fn: () => R, durable = true): R {
    this.assertOpen();
    let result: R;
    try {
      if (!durable) this.db.pragma('synchronous = OFF');
      try {
        result = this.db.transaction(fn)();
      } finally {
        if (!durable) this.db.pragma(`synchronous = ${synchronousOf(this.options)}`);
      }
    } catch (e) {
      this.reload();
      throw toStateError(e, op);
    }
    if (this.options.walMaintenance !== 'manual') this.maintainWal();
    return result;
  }

  /** A read outside a transaction, with errors mapped to stable codes. */
  private read<R>(op: string, fn: () => R): R {
    this.assertOpen();
    try {
      return fn();
    } catch (e) {
      throw toStateError(e, op);
    }
  }

  private reload(): void {
    try {
      this.log.reload();
      this.outbox.reload();
      this.quarantineTable.reload();
    } catch {
      // The database is unreadable right now (e.g. I/O error); the next call reports it.
    }
  }

  /**
   * Checkpoints the WAL into the database file (TRUNCATE) once it is larger
   * than walCheckpointBytes, or always with force. A failure (e.g. disk
   * full while the main file grows) is returned, not thrown: the WAL stays
   * valid and the next call retries.
   */
  maintainWal(force = false): { checkpointed: boolean; error?: StateError } {
    if (this.walPath === null || this.closed) return { checkpointed: false };
    let size = 0;
    try {
      size = fs.statSync(this.walPath).size;
    } catch {
      return { checkpointed: false };
    }
    if (!force && size <= (this.options.walCheckpointBytes ?? DEFAULTS.walCheckpointBytes)) return { checkpointed: false };
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      return { checkpointed: true };
    } catch (e) {
      return { checkpointed: false, error: toStateError(e, 'wal checkpoint') };
    }
  }

  close(): void {
    if (this.closed) return;
    this.maintainWal(true);
    this.closed = true;
    this.db.close();
  }

  // ---- ingest log --------------------------------------------------------------

  appendSegment(records: readonly SourceRecord[], createdAtMs?: number): AppendResult {
    if (records.length === 0) return { firstOffset: this.log.next, lastOffset: this.log.next - 1 };
    return this.appendEncoded(encodeSegment(records), records.length, createdAtMs);
  }

  /** Appends a segment already encoded with encodeSegment (the worker path). */
  appendEncoded(payload: Uint8Array, count: number, createdAtMs?: number): AppendResult {
    const at = createdAtMs ?? this.clock.now();
    return this.write('appendSegment', () => this.log.append(payload, count, at));
  }

  readSegmentsRaw(offset: number, limit: number): RawSegment[] {
    return this.read('readFrom', () => this.log.readRaw(offset, limit));
  }

  *readFrom(offset: number, pageSegments = 64): Generator<LogSegment> {
    let next = offset;
    for (;;) {
      const page = this.readSegmentsRaw(next, pageSegments);
      if (page.length === 0) return;
      for (const raw of page) {
        const seg = decodeRawSegment(raw, next);
        next = seg.lastOffset + 1;
        yield seg;
      }
    }
  }

  trimLog(o: TrimLogOptions): TrimLogResult {
    const ck = this.checkpoints.load();
    const consumed = Math.min(o.consumedOffset, ck?.consumedOffset ?? 0);
    return this.write('trimLog', () => this.log.trim(consumed, o.maxBytes ?? Number.POSITIVE_INFINITY,
      o.maxAgeMs ?? Number.POSITIVE_INFINITY, o.nowMs ?? this.clock.now()));
  }

  logStats(): LogStats {
    return this.read('logStats', () => this.log.stats());
  }

  // ---- checkpoints, state, spill ---------------------------------------------------

  commitCheckpoint(input: CheckpointInput): CheckpointResult {
    return this.commitCheckpointChunks({ ...input, stateUpserts: [input.stateUpserts], outbox: [input.outbox] });
  }

  /** commitCheckpoint of a checkpoint built as columns (see checkpoint-columns.ts), its rows read back a chunk at a time. */
  commitPackedCheckpoint(c: PackedCheckpoint): CheckpointResult {
    return this.commitCheckpointChunks(checkpointChunks(c));
  }

  /**
   * commitCheckpoint with the upserts and outbox rows in chunks, taken one after the other inside the
   * transaction: the storage worker builds each chunk's row objects from packed columns as it goes,
   * so they die young instead of all 30,000 living through the transaction.
   */
  commitCheckpointChunks(input: CheckpointChunks): CheckpointResult {
    this.assertOpen();
    const prev = this.checkpoints.load();
    if (!Number.isSafeInteger(input.checkpointId) || (prev !== null && input.checkpointId <= prev.checkpointId)) {
      throw new StateError('E_STATE_ARGUMENT', `checkpointId ${input.checkpointId} must be an integer above the last one (${prev?.checkpointId ?? 'none'})`);
    }
    const lowest = prev?.consumedOffset ?? 0;
    if (!Number.isSafeInteger(input.consumedOffset) || input.consumedOffset < lowest || input.consumedOffset >= this.log.next) {
      throw new StateError('E_STATE_ARGUMENT',
        `consumedOffset ${input.consumedOffset} must be in [${lowest}, ${this.log.next - 1}] (never backwards, never past the log)`);
    }
    const now = input.nowMs ?? this.clock.now();
    const hook = this.options.onCheckpointPhase;
    return this.write('commitCheckpoint', () => {
      // Prefix deletes before the upserts, key deletes after them: as one writeState call orders them.
      this.checkpoints.writeState([], [], input.stateDeletePrefixes ?? []);
      for (const chunk of input.stateUpserts) this.checkpoints.writeState(chunk, []);
      this.checkpoints.writeState([], input.stateDeletes);
      hook?.('state');
      // Each insert persists nextSeq; with no chunk it did not change, so there is nothing to persist.
      const firstSeq = this.outbox.nextSeq;
      for (const chunk of input.outbox) this.outbox.insert(chunk, now);
      const seqs = { firstSeq, lastSeq: this.outbox.nextSeq - 1 };
      this.checkpoints.setCheckpoint(input.checkpointId, input.consumedOffset, now);
      hook?.('outbox');
      const degrade = this.degrader.enforce(now);
      return { ...seqs, degrade };
    });
  }

  /** See StateStore.importCheckpoint: only into a store that was never used. */
  importCheckpoint(input: ImportCheckpointInput): void {
    this.assertOpen();
    const ok = (n: number, min: number): boolean => Number.isSafeInteger(n) && n >= min;
    if (!ok(input.checkpointId, 1) || !ok(input.consumedOffset, 0) || !ok(input.nextSeq, 1)) {
      throw new StateError('E_STATE_ARGUMENT', 'importCheckpoint: checkpointId ≥ 1, consumedOffset ≥ 0 and nextSeq ≥ 1 must be integers');
    }
    if (this.checkpoints.load() !== null || this.log.next !== 1 || this.outbox.nextSeq !== 1) {
      throw new StateError('E_STATE_ARGUMENT', 'importCheckpoint needs a store that was never used (no checkpoint, no log, no outbox seq issued)');
    }
    const setMeta = prepareSetMeta(this.sql);
    this.write('importCheckpoint', () => {
      this.checkpoints.writeState(input.rows, []);
      this.checkpoints.setCheckpoint(input.checkpointId, input.consumedOffset, input.nowMs ?? this.clock.now());
      setMeta('log_next_offset', input.consumedOffset + 1);
      setMeta('outbox_next_seq', input.nextSeq);
      setMeta('outbox_acked_seq', input.nextSeq - 1);
    });
    this.log.reload();
    this.outbox.reload();
  }

  loadCheckpoint(): CheckpointInfo | null {
    return this.read('loadCheckpoint', () => this.checkpoints.load());
  }

  statePage(ns: string | undefined, after: StateKey | null, limit: number): StateRow[] {
    return this.read('statePage', () => this.checkpoints.statePage(ns, after, limit));
  }

  *loadState(ns?: string, pageRows = 1024): Generator<StateRow> {
    let after: StateKey | null = null;
    for (;;) {
      const page = this.statePage(ns, after, pageRows);
      if (page.length === 0) return;
      yield* page;
      after = page[page.length - 1]!;
      if (page.length < pageRows) return;
    }
  }

  spillPut(ns: string, entries: readonly { key: string; value: Uint8Array }[]): void {
    this.write('spillPut', () => this.checkpoints.spillPut(ns, entries), false);
  }

  spillGet(ns: string, keys: readonly string[]): (Uint8Array | null)[] {
    return this.read('spillGet', () => this.checkpoints.spillGet(ns, keys));
  }

  spillDelete(ns: string, keys: readonly string[]): number {
    return this.write('spillDelete', () => this.checkpoints.spillDelete(ns, keys), false);
  }

  spillClear(ns?: string): number {
    return this.write('spillClear', () => this.checkpoints.spillClear(ns), false);
  }

  // ---- outbox ------------------------------------------------------------------

  readOutbox(q: ReadOutboxQuery): OutboxRow[] {
    return this.read('readOutbox', () => this.outbox.read(q));
  }

  ackOutbox(uptoSeq: number): AckResult {
    return this.write('ackOutbox', () => this.outbox.ack(uptoSeq));
  }

  outboxStats(nowMs?: number): OutboxStats {
    return this.read('outboxStats', () => this.outboxStatsNow(nowMs));
  }

  private outboxStatsNow(nowMs?: number): OutboxStats {
    const oldest = this.outbox.oldestCreatedAtMs();
    return {
      rows: this.outbox.rows,
      bytes: this.outbox.bytes,
      rowsByPriority: [...this.outbox.rowsByPriority],
      oldestUnsentAgeMs: oldest === null ? null : (nowMs ?? this.clock.now()) - oldest,
      nextSeq: this.outbox.nextSeq,
      ackedSeq: this.outbox.ackedSeq,
      degradeTotals: this.degrader.totals(),
      overQuota: this.outbox.bytes > (this.options.outbox?.maxBytes ?? DEFAULTS.outboxMaxBytes),
    };
  }

  /** Removed seq ranges not yet acked (what the live degrade record lists). */
  outboxRemovedRanges(): [number, number][] {
    return this.read('outboxRemovedRanges', () => this.outbox.removedRanges());
  }

  // ---- quarantine ------------------------------------------------------------------

  quarantine(entries: readonly QuarantineInput[]): { ids: number[] } {
    return { ids: this.write('quarantine', () => this.quarantineTable.insert(entries)) };
  }

  readQuarantine(afterId: number, limit: number): QuarantineRow[] {
    return this.read('readQuarantine', () => this.quarantineTable.read(afterId, limit));
  }

  quarantineStats(): QuarantineStats {
    return this.read('quarantineStats', () => this.quarantineTable.stats());
  }
}

/** Decodes a stored segment, dropping records below `from` (a read that starts mid-segment). */
export function decodeRawSegment(raw: RawSegment, from: number): LogSegment {
  const all = decodeSegment(raw.payload);
  if (all.length !== raw.count) {
    throw new StateError('E_STATE_CORRUPT', `log segment ${raw.firstOffset} holds ${all.length} records, its row says ${raw.count}`);
  }
  const skip = Math.max(0, from - raw.firstOffset);
  return {
    firstOffset: raw.firstOffset + skip,
    lastOffset: raw.firstOffset + raw.count - 1,
    createdAtMs: raw.createdAtMs,
    records: skip === 0 ? all : all.slice(skip),
  };
}

/**
 * A scratch database for working memory that happens to live on disk (the
 * spill of bounded-memory operators): the file is recreated at every open,
 * with no journal and no fsync — nothing in it survives a restart, nothing
 * needs to. A small page cache keeps it from growing the process's RSS.
 */
export function openScratchDatabase(path: string, opts: { cacheSizeKiB?: number } = {}): SqlDatabase & { close(): void } {
  for (const f of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) fs.rmSync(f, { force: true });
  const db = openBinding(path);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma(`cache_size = -${Math.trunc(opts.cacheSizeKiB ?? 2048)}`);
  db.pragma('temp_store = FILE');
  return { ...asSqlDatabase(db), close: () => db.close() };
}
