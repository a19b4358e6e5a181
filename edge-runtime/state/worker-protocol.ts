import type { SerializedStateError } from './state-errors.ts';
import type {
  AckResult, AppendResult, CheckpointInfo, CheckpointResult, LogStats, OpenReport, OutboxRow, OutboxStats,
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
  /** End offset of each blob in data (a typed array: cloned as one block, not element by element). */
  readonly ends: Uint32Array;
}

export function packBytes(list: readonly Uint8Array[]): PackedBytes {
  let total = 0;
  const ends = new Uint32Array(list.length);
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

/**
 * Many strings as one: their concatenation and the end of each (UTF-16 units). A structured clone
 * copies one string instead of creating one heap object per string in the worker; the worker takes
 * them out a chunk at a time (slices of `text`), so they die young.
 */
export interface PackedStrings {
  readonly text: string;
  readonly ends: Uint32Array;
}

export function packStrings(list: readonly string[]): PackedStrings {
  const ends = new Uint32Array(list.length);
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    total += list[i]!.length;
    ends[i] = total;
  }
  return { text: list.join(''), ends };
}

/**
 * A column of strings with long runs of one value (the namespace of state rows, the kind of outbox
 * rows): each run's value and the row index just after it.
 */
export interface PackedRuns {
  readonly values: readonly string[];
  readonly ends: readonly number[];
}

/** Adds `value` as the next row of `runs` (under construction). */
export function pushRun(runs: { values: string[]; ends: number[] }, value: string): void {
  const n = runs.values.length;
  if (n > 0 && runs.values[n - 1] === value) runs.ends[n - 1]!++;
  else {
    runs.values.push(value);
    runs.ends.push(n === 0 ? 1 : runs.ends[n - 1]! + 1);
  }
}

/** Outbox rows, column by column. */
export interface PackedOutbox {
  readonly priorities: Uint8Array;
  readonly kinds: PackedRuns;
  readonly series: PackedStrings;
  readonly tStart: Float64Array;
  readonly tEnd: Float64Array;
  readonly payloads: PackedBytes;
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
  readonly upsertNs: PackedRuns;
  readonly upsertKeys: PackedStrings;
  readonly upsertValues: PackedBytes;
  readonly deletes: readonly StateKey[];
  readonly deletePrefixes?: readonly StateKey[];
  readonly outbox: PackedOutbox;
}

/** The buffers of a packed checkpoint, to transfer (each was allocated for it alone). */
export function checkpointTransferables(c: PackedCheckpoint): ArrayBuffer[] {
  const o = c.outbox;
  return [
    c.upsertKeys.ends, c.upsertValues.data, c.upsertValues.ends,
    o.priorities, o.series.ends, o.tStart, o.tEnd, o.payloads.data, o.payloads.ends,
  ].map((a) => a.buffer as ArrayBuffer);
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
  /** The worker isolate's V8 heap (its part of the process's RSS that process.memoryUsage() does not show). */
  heapStats(): WorkerHeapStats;
  close(): void;
}

export interface WorkerHeapStats {
  /** Bytes: the heap's committed size, what is live in it, the largest committed size seen so far. */
  readonly totalHeapSize: number;
  readonly usedHeapSize: number;
  readonly peakTotalHeapSize: number;
  /** Bytes outside the heap held by the isolate's ArrayBuffers and strings (external memory). */
  readonly externalMemory: number;
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
