import type { SerializedStateError } from './state-errors.ts';
import type {
  AckResult, AppendResult, CheckpointInfo, CheckpointResult, LogStats, OpenReport, OutboxInput, OutboxRow, OutboxStats,
  QuarantineInput, QuarantineRow, QuarantineStats, ReadOutboxQuery, StateKey, StateStoreOptions, TrimLogOptions, TrimLogResult,
} from './store-types.ts';

/**
 * Messages between WorkerStateStore (main thread) and storage-worker.ts.
 * Byte-heavy arguments and results travel packed into one ArrayBuffer that
 * is transferred, not copied: a batch of N blobs costs one transfer instead
 * of N structured clones.
 */
export interface PackedBytes {
  readonly data: Uint8Array;
  /** End offset of each blob in data. */
  readonly ends: readonly number[];
}

export function packBytes(list: readonly Uint8Array[]): PackedBytes {
  let total = 0;
  const ends: number[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    total += list[i]!.byteLength;
    ends[i] = total;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of list) {
    data.set(b, at);
    at += b.byteLength;
  }
  return { data, ends };
}

/** Views into the packed buffer (no copy). */
export function unpackBytes(p: PackedBytes): Uint8Array[] {
  const out: Uint8Array[] = new Array(p.ends.length);
  let start = 0;
  for (let i = 0; i < p.ends.length; i++) {
    const end = p.ends[i]!;
    out[i] = p.data.subarray(start, end);
    start = end;
  }
  return out;
}

export interface PackedSegments {
  readonly firstOffsets: readonly number[];
  readonly counts: readonly number[];
  readonly createdAtMs: readonly number[];
  readonly payloads: PackedBytes;
}

export interface PackedStateRows {
  readonly ns: readonly string[];
  readonly keys: readonly string[];
  readonly values: PackedBytes;
}

export interface PackedCheckpoint {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly nowMs?: number;
  readonly upsertNs: readonly string[];
  readonly upsertKeys: readonly string[];
  readonly upsertValues: PackedBytes;
  readonly deletes: readonly StateKey[];
  readonly deletePrefixes?: readonly StateKey[];
  readonly outbox: readonly Omit<OutboxInput, 'payload'>[];
  readonly outboxPayloads: PackedBytes;
}

export interface PackedImport {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly nextSeq: number;
  readonly nowMs?: number;
  readonly rows: PackedStateRows;
}

/** What the worker answers to; one method per StateStore operation (plus open and maintenance). */
export interface WorkerApi {
  open(options: StateStoreOptions): OpenReport;
  append(payload: Uint8Array, count: number, createdAtMs: number | undefined): AppendResult;
  readSegments(offset: number, limit: number): PackedSegments;
  trimLog(options: TrimLogOptions): TrimLogResult;
  logStats(): LogStats;
  commitCheckpoint(c: PackedCheckpoint): CheckpointResult;
  loadCheckpoint(): CheckpointInfo | null;
  importCheckpoint(c: PackedImport): void;
  statePage(ns: string | undefined, after: StateKey | null, limit: number): PackedStateRows;
  spillPut(ns: string, keys: readonly string[], values: PackedBytes): void;
  spillGet(ns: string, keys: readonly string[]): (Uint8Array | null)[];
  spillDelete(ns: string, keys: readonly string[]): number;
  spillClear(ns: string | undefined): number;
  readOutbox(query: ReadOutboxQuery): OutboxRow[];
  ackOutbox(uptoSeq: number): AckResult;
  outboxStats(nowMs: number | undefined): OutboxStats;
  quarantine(entries: readonly QuarantineInput[]): { ids: number[] };
  readQuarantine(afterId: number, limit: number): QuarantineRow[];
  quarantineStats(): QuarantineStats;
  close(): void;
}

export type WorkerMethod = keyof WorkerApi;

export interface WorkerRequest<M extends WorkerMethod = WorkerMethod> {
  readonly id: number;
  readonly method: M;
  readonly args: Parameters<WorkerApi[M]>;
}

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedStateError };

/** ArrayBuffers inside a result that can be transferred back (packed results only). */
export function transferablesOf(result: unknown): ArrayBuffer[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as { payloads?: PackedBytes; values?: PackedBytes };
  const p = r.payloads ?? r.values;
  return p !== undefined && p.data instanceof Uint8Array && p.data.buffer instanceof ArrayBuffer ? [p.data.buffer] : [];
}
