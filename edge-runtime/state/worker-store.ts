import { Worker } from 'node:worker_threads';
import type { SourceRecord } from '../engine/types.ts';
import { encodeSegment } from './segment-codec.ts';
import { decodeRawSegment } from './sqlite-store.ts';
import { StateError, deserializeError } from './state-errors.ts';
import { packCheckpoint } from './checkpoint-columns.ts';
import { checkpointTransferables, packBytes, unpackBytes } from './worker-protocol.ts';
import type { PackedCheckpoint, PackedStateRows, WorkerApi, WorkerHeapStats, WorkerMethod, WorkerRequest, WorkerResponse } from './worker-protocol.ts';
import type {
  AckResult, AppendResult, CheckpointInfo, CheckpointInput, CheckpointResult, ImportCheckpointInput, LogSegment, LogStats, OpenReport,
  OutboxRow, OutboxStats, QuarantineInput, QuarantineRow, QuarantineStats, ReadOptions, ReadOutboxQuery, StateKey,
  StateRow, StateStore, StateStoreOptions, TrimLogOptions, TrimLogResult,
} from './store-types.ts';

export interface WorkerStateStoreOptions extends StateStoreOptions {
  /** The worker entry (default: storage-worker.ts beside this file). A .ts entry is loaded through tsx. */
  readonly workerUrl?: URL;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/**
 * StateStore whose SQLite connection lives on a worker thread
 * (storage-worker.ts). The main thread only encodes (segments with cbor-x,
 * byte batches packed into one buffer) and transfers ArrayBuffers; commits,
 * fsyncs and WAL checkpoints block the worker, not the event loop. Calls
 * are answered in the order they were made.
 *
 * If the worker dies, every pending and later call rejects with E_STATE_WORKER.
 */
export class WorkerStateStore implements StateStore {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: StateError | null = null;
  private report: OpenReport | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (res: WorkerResponse) => this.onResponse(res));
    worker.on('error', (e) => this.fail(new StateError('E_STATE_WORKER', `storage worker failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e })));
    worker.on('exit', (code) => this.fail(new StateError('E_STATE_WORKER', `storage worker exited (code ${code})`)));
    worker.unref();
  }

  static async open(options: WorkerStateStoreOptions): Promise<WorkerStateStore> {
    // From source the worker is storage-worker.ts (loaded through tsx); in the rollup bundle this
    // module is dist/weir.mjs and the worker is bundled beside it as storage-worker.mjs.
    const url = options.workerUrl ?? new URL(import.meta.url.endsWith('.ts') ? './storage-worker.ts' : './storage-worker.mjs', import.meta.url);
    const { workerUrl: _omit, ...storeOptions } = options;
    const store = new WorkerStateStore(startWorker(url));
    try {
      store.report = await store.call('open', [storeOptions]);
    } catch (e) {
      await store.worker.terminate();
      throw e;
    }
    return store;
  }

  get openReport(): OpenReport {
    if (this.report === null) throw new StateError('E_STATE_CLOSED', 'store is not open');
    return this.report;
  }

  private call<M extends WorkerMethod>(method: M, args: Parameters<WorkerApi[M]>, transfer: ArrayBuffer[] = []): Promise<ReturnType<WorkerApi[M]>> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    const req: WorkerRequest<M> = { id, method, args };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage(req, transfer);
    });
  }

  private onResponse(res: WorkerResponse): void {
    const p = this.pending.get(res.id);
    if (p === undefined) return;
    this.pending.delete(res.id);
    if (this.pending.size === 0) this.worker.unref();
    if (res.ok) p.resolve(res.result);
    else p.reject(deserializeError(res.error));
  }

  private fail(e: StateError): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  appendSegment(records: readonly SourceRecord[], createdAtMs?: number): Promise<AppendResult> {
    const payload = encodeSegment(records);
    return this.call('append', [payload, records.length, createdAtMs], [payload.buffer as ArrayBuffer]);
  }

  async *readFrom(offset: number, options?: ReadOptions): AsyncGenerator<LogSegment> {
    const limit = options?.pageSegments ?? 64;
    let next = offset;
    for (;;) {
      const page = await this.call('readSegments', [next, limit]);
      if (page.counts.length === 0) return;
      const payloads = unpackBytes(page.payloads);
      for (let i = 0; i < payloads.length; i++) {
        const seg = decodeRawSegment({
          firstOffset: page.firstOffsets[i]!, count: page.counts[i]!, createdAtMs: page.createdAtMs[i]!, payload: payloads[i]!,
        }, next);
        next = seg.lastOffset + 1;
        yield seg;
      }
    }
  }

  trimLog(options: TrimLogOptions): Promise<TrimLogResult> {
    return this.call('trimLog', [options]);
  }

  logStats(): Promise<LogStats> {
    return this.call('logStats', []);
  }

  commitCheckpoint(input: CheckpointInput): Promise<CheckpointResult> {
    let packed: PackedCheckpoint;
    try {
      packed = packCheckpoint(input);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.commitPackedCheckpoint(packed);
  }

  /** Its buffers are transferred to the worker: `c` is unusable afterwards (sealCheckpoint makes a fresh one each time). */
  commitPackedCheckpoint(c: PackedCheckpoint): Promise<CheckpointResult> {
    return this.call('commitCheckpoint', [c], checkpointTransferables(c));
  }

  importCheckpoint(input: ImportCheckpointInput): Promise<void> {
    const values = packBytes(input.rows.map((r) => r.value));
    return this.call('importCheckpoint', [{
      checkpointId: input.checkpointId,
      consumedOffset: input.consumedOffset,
      nextSeq: input.nextSeq,
      ...(input.nowMs === undefined ? {} : { nowMs: input.nowMs }),
      rows: { ns: input.rows.map((r) => r.ns), keys: input.rows.map((r) => r.key), values },
    }], [values.data.buffer as ArrayBuffer]);
  }

  loadCheckpoint(): Promise<CheckpointInfo | null> {
    return this.call('loadCheckpoint', []);
  }

  async *loadState(ns?: string): AsyncGenerator<StateRow> {
    const limit = 4096;
    let after: StateKey | null = null;
    for (;;) {
      const page: PackedStateRows = await this.call('statePage', [ns, after, limit]);
      const values = unpackBytes(page.values);
      for (let i = 0; i < values.length; i++) yield { ns: page.ns[i]!, key: page.keys[i]!, value: values[i]! };
      if (values.length < limit) return;
      after = { ns: page.ns[values.length - 1]!, key: page.keys[values.length - 1]! };
    }
  }

  async spillPut(ns: string, entries: readonly { key: string; value: Uint8Array }[]): Promise<void> {
    const values = packBytes(entries.map((e) => e.value));
    await this.call('spillPut', [ns, entries.map((e) => e.key), values], [values.data.buffer as ArrayBuffer]);
  }

  spillGet(ns: string, keys: readonly string[]): Promise<(Uint8Array | null)[]> {
    return this.call('spillGet', [ns, keys]);
  }

  spillDelete(ns: string, keys: readonly string[]): Promise<number> {
    return this.call('spillDelete', [ns, keys]);
  }

  spillClear(ns?: string): Promise<number> {
    return this.call('spillClear', [ns]);
  }

  readOutbox(query: ReadOutboxQuery): Promise<OutboxRow[]> {
    return this.call('readOutbox', [query]);
  }

  ackOutbox(uptoSeq: number): Promise<AckResult> {
    return this.call('ackOutbox', [uptoSeq]);
  }

  outboxStats(nowMs?: number): Promise<OutboxStats> {
    return this.call('outboxStats', [nowMs]);
  }

  quarantine(entries: readonly QuarantineInput[]): Promise<{ readonly ids: readonly number[] }> {
    return this.call('quarantine', [entries]);
  }

  readQuarantine(afterId: number, limit: number): Promise<QuarantineRow[]> {
    return this.call('readQuarantine', [afterId, limit]);
  }

  quarantineStats(): Promise<QuarantineStats> {
    return this.call('quarantineStats', []);
  }

  /** The storage worker's own V8 heap (not in process.memoryUsage()), for metrics and benchmarks. */
  workerHeap(): Promise<WorkerHeapStats> {
    return this.call('heapStats', []);
  }

  async close(): Promise<void> {
    if (this.dead !== null) return;
    await this.call('close', []);
    this.dead = new StateError('E_STATE_CLOSED', 'store is closed');
    await this.worker.terminate();
  }
}

/**
 * Starts the worker. Under tsx (development, tests) a .ts entry cannot be
 * loaded directly — Node 20 workers do not inherit tsx's loader hooks — so
 * a tiny bootstrap registers tsx in the worker first. A bundled build
 * points workerUrl at a .js/.mjs entry, which starts directly.
 */
function startWorker(url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true });
}
