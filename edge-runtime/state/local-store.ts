import type { SourceRecord } from '../engine/types.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import type { PackedCheckpoint } from './worker-protocol.ts';
import type {
  AckResult, AppendResult, CheckpointInfo, CheckpointInput, CheckpointResult, ImportCheckpointInput, LogSegment, LogStats, OpenReport,
  OutboxRow, OutboxStats, QuarantineInput, QuarantineRow, QuarantineStats, ReadOptions, ReadOutboxQuery, StateRow,
  StateStore, TrimLogOptions, TrimLogResult,
} from './store-types.ts';

/**
 * StateStore in the calling thread: the synchronous SqliteStore behind
 * promises. Every call runs to completion before it returns its promise, so
 * the event loop is blocked for as long as SQLite works (a 10,000-key
 * checkpoint: tens of ms). For tools, tests and replay; the gateway runtime
 * uses WorkerStateStore.
 */
export class LocalStateStore implements StateStore {
  private constructor(readonly sync: SqliteStore) {}

  static async open(options: SqliteStoreOptions): Promise<LocalStateStore> {
    return new LocalStateStore(SqliteStore.open(options));
  }

  get openReport(): OpenReport {
    return this.sync.openReport;
  }

  async appendSegment(records: readonly SourceRecord[], createdAtMs?: number): Promise<AppendResult> {
    return this.sync.appendSegment(records, createdAtMs);
  }

  async *readFrom(offset: number, options?: ReadOptions): AsyncGenerator<LogSegment> {
    yield* this.sync.readFrom(offset, options?.pageSegments);
  }

  async trimLog(options: TrimLogOptions): Promise<TrimLogResult> {
    return this.sync.trimLog(options);
  }

  async logStats(): Promise<LogStats> {
    return this.sync.logStats();
  }

  async commitCheckpoint(input: CheckpointInput): Promise<CheckpointResult> {
    return this.sync.commitCheckpoint(input);
  }

  async commitPackedCheckpoint(c: PackedCheckpoint): Promise<CheckpointResult> {
    return this.sync.commitPackedCheckpoint(c);
  }

  async importCheckpoint(input: ImportCheckpointInput): Promise<void> {
    this.sync.importCheckpoint(input);
  }

  async loadCheckpoint(): Promise<CheckpointInfo | null> {
    return this.sync.loadCheckpoint();
  }

  async *loadState(ns?: string): AsyncGenerator<StateRow> {
    yield* this.sync.loadState(ns);
  }

  async spillPut(ns: string, entries: readonly { key: string; value: Uint8Array }[]): Promise<void> {
    this.sync.spillPut(ns, entries);
  }

  async spillGet(ns: string, keys: readonly string[]): Promise<(Uint8Array | null)[]> {
    return this.sync.spillGet(ns, keys);
  }

  async spillDelete(ns: string, keys: readonly string[]): Promise<number> {
    return this.sync.spillDelete(ns, keys);
  }

  async spillClear(ns?: string): Promise<number> {
    return this.sync.spillClear(ns);
  }

  async readOutbox(query: ReadOutboxQuery): Promise<OutboxRow[]> {
    return this.sync.readOutbox(query);
  }

  async ackOutbox(uptoSeq: number): Promise<AckResult> {
    return this.sync.ackOutbox(uptoSeq);
  }

  async outboxStats(nowMs?: number): Promise<OutboxStats> {
    return this.sync.outboxStats(nowMs);
  }

  async quarantine(entries: readonly QuarantineInput[]): Promise<{ readonly ids: readonly number[] }> {
    return this.sync.quarantine(entries);
  }

  async readQuarantine(afterId: number, limit: number): Promise<QuarantineRow[]> {
    return this.sync.readQuarantine(afterId, limit);
  }

  async quarantineStats(): Promise<QuarantineStats> {
    return this.sync.quarantineStats();
  }

  async close(): Promise<void> {
    this.sync.close();
  }
}
