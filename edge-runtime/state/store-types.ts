import type { SourceRecord } from '../engine/types.ts';
import type { AggregateSpec } from '../engine/aggregates/spec.ts';
import type { StateErrorCode } from './state-errors.ts';
import type { PackedCheckpoint } from './worker-protocol.ts';

/**
 * The storage module's vocabulary and its one interface, `StateStore`.
 * Two implementations: `LocalStateStore` (in-process, synchronous SQLite
 * behind promises) and `WorkerStateStore` (a worker thread owns the
 * connection); one contract suite runs against both.
 */

// ---- durability ------------------------------------------------------------

/**
 * SQLite `synchronous` in WAL mode, and what a power cut can cost. A process
 * crash (SIGKILL, OOM kill) loses nothing committed under either setting:
 * the WAL is in the OS page cache.
 *
 * - FULL: the WAL is fsynced at every commit. A reading whose append
 *   resolved survives a power cut (on storage that honours fsync; cheap SD
 *   cards may not). Cost: one fsync per group commit.
 * - NORMAL: the WAL is fsynced only when it is checkpointed into the main
 *   file, which this store does once the WAL passes `walCheckpointBytes`
 *   (default 4 MiB). A power cut can lose the commits since the last WAL
 *   checkpoint: at most `walCheckpointBytes` of WAL, and in time at most the
 *   kernel's dirty-page expiry (Linux default 30 s, vm.dirty_expire_centisecs),
 *   whichever is less. The database stays consistent (never corrupt); what
 *   is lost is a suffix of acknowledged readings and checkpoints, which makes
 *   the gateway re-emit results of the replayed tail (same seqs are NOT
 *   guaranteed after such a loss: the outbox counter may go back too).
 */
export type Durability = 'NORMAL' | 'FULL';

export interface StateStoreOptions {
  /** Database file. ':memory:' works for the in-process store only (no corruption handling, no WAL). */
  readonly path: string;
  /** Default FULL (nothing acknowledged is lost, DESIGN invariant 1). */
  readonly synchronous?: Durability;
  /** Checkpoint the WAL into the main file once it passes this size (default 4 MiB). */
  readonly walCheckpointBytes?: number;
  /** SQLite page cache in KiB (default 2048; see DEFAULT_SQLITE_CACHE_BYTES in gateway-config.ts). */
  readonly cacheSizeKiB?: number;
  readonly outbox?: OutboxQuotaOptions;
  readonly quarantine?: QuarantineOptions;
  /** Test only: PRAGMA max_page_count, to make SQLITE_FULL without a small filesystem. */
  readonly maxPageCount?: number;
}

// ---- open ------------------------------------------------------------------

export interface StoreEvent {
  readonly code: StateErrorCode;
  readonly message: string;
  /** Files that were renamed aside (never deleted). */
  readonly movedTo?: readonly string[];
}

export interface OpenReport {
  readonly path: string;
  /** Schema version found in the file before migrating (0 = new or moved aside). */
  readonly foundSchemaVersion: number;
  readonly schemaVersion: number;
  /** E_STATE_CORRUPT when the old file was moved aside and a fresh one created. */
  readonly events: readonly StoreEvent[];
}

// ---- ingest log ------------------------------------------------------------

export interface AppendResult {
  readonly firstOffset: number;
  /** firstOffset + count − 1; firstOffset − 1 when the batch was empty (nothing written). */
  readonly lastOffset: number;
}

/** A decoded segment; records[i] has offset firstOffset + i. */
export interface LogSegment {
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly createdAtMs: number;
  readonly records: readonly SourceRecord[];
}

/** A segment as stored, before decoding. */
export interface RawSegment {
  readonly firstOffset: number;
  readonly count: number;
  readonly createdAtMs: number;
  readonly payload: Uint8Array;
}

export interface ReadOptions {
  /** Segments fetched per round trip (default 64). */
  readonly pageSegments?: number;
}

export interface TrimLogOptions {
  /**
   * Highest offset the caller has consumed. The store never trims past its
   * own last checkpoint's consumed offset, whatever is passed here.
   */
  readonly consumedOffset: number;
  readonly maxBytes?: number;
  readonly maxAgeMs?: number;
  readonly nowMs?: number;
}

export interface TrimLogResult {
  readonly deletedSegments: number;
  readonly deletedRecords: number;
  readonly deletedBytes: number;
  /** The consumed offset actually used (min of the argument and the checkpoint's). */
  readonly consumedOffset: number;
  /** True when unconsumed data alone exceeds maxBytes: nothing unconsumed was deleted; ingest should slow down. */
  readonly pressure: boolean;
  readonly unconsumedBytes: number;
}

export interface LogStats {
  readonly segments: number;
  readonly records: number;
  readonly bytes: number;
  /** Offset the next record will get. */
  readonly nextOffset: number;
  /** Lowest offset still readable (== nextOffset when the log is empty). */
  readonly firstOffset: number;
  readonly oldestCreatedAtMs: number | null;
}

// ---- checkpoints, state, spill -----------------------------------------------

export interface StateKey {
  readonly ns: string;
  readonly key: string;
}

export interface StateRow extends StateKey {
  readonly value: Uint8Array;
}

export type Priority = 0 | 1 | 2;
export const PRIORITY_ANOMALY: Priority = 0;
export const PRIORITY_AGGREGATE: Priority = 1;
export const PRIORITY_RAW: Priority = 2;

export interface OutboxInput {
  /** 0 anomaly > 1 aggregate > 2 raw/late. */
  readonly priority: Priority;
  /** 'window' rows must carry encodeWindowPayload(result) to be mergeable; 'degrade' is reserved. */
  readonly kind: string;
  /** Series key, e.g. `pipeline|deviceId|metric`; merges only join rows of one series. */
  readonly series: string;
  /** Event-time range [tStart, tEnd) the row covers. */
  readonly tStart: number;
  readonly tEnd: number;
  readonly payload: Uint8Array;
}

export interface CheckpointInput {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly stateUpserts: readonly StateRow[];
  readonly stateDeletes: readonly StateKey[];
  /** Deletes every state row of `ns` whose key starts with `key` (e.g. all keys of a closed window pane). */
  readonly stateDeletePrefixes?: readonly StateKey[];
  readonly outbox: readonly OutboxInput[];
  readonly nowMs?: number;
}

export interface CheckpointResult {
  /** Seq of the first new outbox row; lastSeq = firstSeq − 1 when none were added. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** What the quota enforcement did in this transaction (zeros when under quota). */
  readonly degrade: DegradeSummary;
}

/**
 * A checkpoint taken on another gateway (restore from the cloud), to seed a
 * fresh store: its state rows and checkpoint, the log continuing at
 * consumedOffset + 1, and the outbox continuing at nextSeq with every seq
 * below it counted as acked (the cloud holds them; they are never reused).
 */
export interface ImportCheckpointInput {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly rows: readonly StateRow[];
  readonly nextSeq: number;
  readonly nowMs?: number;
}

export interface CheckpointInfo {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly committedAtMs: number;
}

// ---- outbox ------------------------------------------------------------------

export interface OutboxQuotaOptions {
  /** Byte quota over the `bytes` column (payload + kind + series + 48 B row overhead). Default 64 MiB. */
  readonly maxBytes?: number;
  /** Degrade down to this fraction of maxBytes, so passes are rare (default 0.9). */
  readonly lowWaterRatio?: number;
  /** A merged window never spans more than this (default 1 day). */
  readonly maxMergeSpanMs?: number;
  /**
   * Only rows created at least this long ago (processing time) are merged
   * (default 10 min). Must exceed the time within which a window can still
   * get a correction (allowed lateness): a merged row cannot take a later
   * version of one of its windows into account.
   */
  readonly mergeSettleMs?: number;
  /** Aggregates per pipeline, to merge window results (see window-merge.ts). Plain data. */
  readonly windowSpecs?: Readonly<Record<string, readonly AggregateSpec[]>>;
}

export interface OutboxRow extends OutboxInput {
  readonly seq: number;
  readonly createdAtMs: number;
  readonly bytes: number;
}

export interface ReadOutboxQuery {
  readonly afterSeq: number;
  readonly limit: number;
  /** Stop before exceeding this many bytes (at least one row is always returned). */
  readonly maxBytes?: number;
  /** Only rows at least this important: priority class ≤ minPriority (0 = anomalies only). */
  readonly minPriority?: Priority;
}

export interface AckResult {
  readonly deletedRows: number;
  readonly deletedBytes: number;
}

export interface DegradeSummary {
  /** Merge operations: each turned two window rows into one (row count −1). */
  readonly merges: number;
  /** Older versions of a window dropped because a newer version is queued (lossless). */
  readonly superseded: number;
  /** Rows dropped per priority class [anomaly, aggregate, raw]. */
  readonly dropped: readonly [number, number, number];
  readonly droppedBytes: number;
}

export interface OutboxStats {
  readonly rows: number;
  readonly bytes: number;
  readonly rowsByPriority: readonly [number, number, number];
  readonly oldestUnsentAgeMs: number | null;
  readonly nextSeq: number;
  readonly ackedSeq: number;
  /** Cumulative since the database was created. */
  readonly degradeTotals: DegradeSummary;
  /** True when over quota even after degrading (only anomalies and the degrade record left). */
  readonly overQuota: boolean;
}

// ---- quarantine ------------------------------------------------------------------

export interface QuarantineOptions {
  readonly maxRows?: number;
  readonly maxBytes?: number;
}

export interface QuarantineInput {
  readonly arrivalMs: number;
  readonly source: string;
  readonly topicOrUri: string;
  readonly deviceId?: string | null;
  readonly reasonCode: string;
  readonly detail: string;
  readonly raw: Uint8Array;
}

export interface QuarantineRow extends QuarantineInput {
  readonly id: number;
}

export interface QuarantineStats {
  readonly rows: number;
  readonly bytes: number;
  /** Cumulative: every quarantined payload ever, and those trimmed to stay in bounds. */
  readonly total: number;
  readonly trimmed: number;
  readonly byReason: Readonly<Record<string, number>>;
}

// ---- the interface ------------------------------------------------------------------

/**
 * Everything the runtime needs from durable storage. Promise-returning so
 * that the connection can live on a worker thread; calls are executed in
 * the order they are made.
 */
export interface StateStore {
  readonly openReport: OpenReport;
  appendSegment(records: readonly SourceRecord[], createdAtMs?: number): Promise<AppendResult>;
  /** Records with offset ≥ `offset`, segment by segment. Throws E_LOG_TRIMMED if `offset` was trimmed. */
  readFrom(offset: number, options?: ReadOptions): AsyncIterable<LogSegment>;
  trimLog(options: TrimLogOptions): Promise<TrimLogResult>;
  logStats(): Promise<LogStats>;

  commitCheckpoint(input: CheckpointInput): Promise<CheckpointResult>;
  /**
   * The same for a checkpoint built as columns (checkpoint-columns.ts: what the runtime commits, so
   * that no object per row lives until the commit). Its buffers may be transferred: do not reuse `c`.
   */
  commitPackedCheckpoint(c: PackedCheckpoint): Promise<CheckpointResult>;
  loadCheckpoint(): Promise<CheckpointInfo | null>;
  loadState(ns?: string): AsyncIterable<StateRow>;
  /** Seeds a store that was never used (no checkpoint, no log, no outbox seq) with a checkpoint from elsewhere; E_STATE_ARGUMENT otherwise. */
  importCheckpoint(input: ImportCheckpointInput): Promise<void>;

  spillPut(ns: string, entries: readonly { key: string; value: Uint8Array }[]): Promise<void>;
  /** Values aligned with `keys`; null where the key is not spilled. */
  spillGet(ns: string, keys: readonly string[]): Promise<(Uint8Array | null)[]>;
  spillDelete(ns: string, keys: readonly string[]): Promise<number>;
  /** Empties the spill area (of one namespace or all): do it at recovery, spilled values predate the restart. */
  spillClear(ns?: string): Promise<number>;

  readOutbox(query: ReadOutboxQuery): Promise<OutboxRow[]>;
  ackOutbox(uptoSeq: number): Promise<AckResult>;
  outboxStats(nowMs?: number): Promise<OutboxStats>;

  quarantine(entries: readonly QuarantineInput[]): Promise<{ readonly ids: readonly number[] }>;
  readQuarantine(afterId: number, limit: number): Promise<QuarantineRow[]>;
  quarantineStats(): Promise<QuarantineStats>;

  close(): Promise<void>;
}
