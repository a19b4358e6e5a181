import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import { StateError, serializeError } from './state-errors.ts';
import { packBytes, transferablesOf, unpackBytes } from './worker-protocol.ts';
import type { WorkerApi, WorkerRequest, WorkerResponse } from './worker-protocol.ts';
import type { StateRow } from './store-types.ts';

/**
 * The storage worker: owns the SQLite connection so that the main thread's
 * event loop never waits for a commit or an fsync. Requests are handled one
 * at a time in arrival order (each handler is synchronous), so the order of
 * calls on WorkerStateStore is the order of effects in the database.
 * WAL checkpoints run when the worker is idle (setImmediate after a write),
 * not inside a request.
 */
if (parentPort === null) throw new Error('storage-worker.ts must run as a worker thread');
const port = parentPort;

let store: SqliteStore | null = null;
let maintenanceScheduled = false;
/** Largest committed heap seen by heapStats() (sampled when asked). */
let peakHeap = 0;

function open(): SqliteStore {
  if (store === null) throw new StateError('E_STATE_CLOSED', 'storage worker: store is not open');
  return store;
}

function scheduleMaintenance(): void {
  if (maintenanceScheduled) return;
  maintenanceScheduled = true;
  setImmediate(() => {
    maintenanceScheduled = false;
    store?.maintainWal();
  });
}

const api: WorkerApi = {
  open(options) {
    if (store !== null) throw new StateError('E_STATE_ARGUMENT', 'storage worker: already open');
    const o: SqliteStoreOptions = { ...options, walMaintenance: 'manual' };
    store = SqliteStore.open(o);
    return store.openReport;
  },
  append(payload, count, createdAtMs) {
    const r = open().appendEncoded(payload, count, createdAtMs);
    scheduleMaintenance();
    return r;
  },
  readSegments(offset, limit) {
    const segs = open().readSegmentsRaw(offset, limit);
    return {
      firstOffsets: segs.map((s) => s.firstOffset),
      counts: segs.map((s) => s.count),
      createdAtMs: segs.map((s) => s.createdAtMs),
      payloads: packBytes(segs.map((s) => s.payload)),
    };
  },
  trimLog(options) {
    const r = open().trimLog(options);
    scheduleMaintenance();
    return r;
  },
  logStats: () => open().logStats(),
  commitCheckpoint(c) {
    const r = open().commitPackedCheckpoint(c);
    scheduleMaintenance();
    return r;
  },
  loadCheckpoint: () => open().loadCheckpoint(),
  importCheckpoint(c) {
    const values = unpackBytes(c.rows.values);
    const rows: StateRow[] = values.map((value, i) => ({ ns: c.rows.ns[i]!, key: c.rows.keys[i]!, value }));
    open().importCheckpoint({ checkpointId: c.checkpointId, consumedOffset: c.consumedOffset, nextSeq: c.nextSeq, rows, ...(c.nowMs === undefined ? {} : { nowMs: c.nowMs }) });
    scheduleMaintenance();
  },
  statePage(ns, after, limit) {
    const rows = open().statePage(ns, after, limit);
    return { ns: rows.map((r) => r.ns), keys: rows.map((r) => r.key), values: packBytes(rows.map((r) => r.value)) };
  },
  spillPut(ns, keys, values) {
    const v = unpackBytes(values);
    open().spillPut(ns, keys.map((key, i) => ({ key, value: v[i]! })));
  },
  spillGet: (ns, keys) => open().spillGet(ns, keys),
  spillDelete: (ns, keys) => open().spillDelete(ns, keys),
  spillClear: (ns) => open().spillClear(ns),
  readOutbox: (q) => open().readOutbox(q),
  ackOutbox(upto) {
    const r = open().ackOutbox(upto);
    scheduleMaintenance();
    return r;
  },
  outboxStats: (nowMs) => open().outboxStats(nowMs),
  quarantine: (entries) => open().quarantine(entries),
  readQuarantine: (afterId, limit) => open().readQuarantine(afterId, limit),
  quarantineStats: () => open().quarantineStats(),
  heapStats() {
    const h = getHeapStatistics();
    peakHeap = Math.max(peakHeap, h.total_heap_size);
    return { totalHeapSize: h.total_heap_size, usedHeapSize: h.used_heap_size, peakTotalHeapSize: peakHeap, externalMemory: h.external_memory };
  },
  close() {
    store?.close();
    store = null;
  },
};

function dispatch(req: WorkerRequest): unknown {
  // The request's args tuple matches its method by construction (WorkerStateStore.call).
  const fn = api[req.method] as (...args: unknown[]) => unknown;
  return fn(...(req.args as unknown[]));
}

port.on('message', (req: WorkerRequest) => {
  let res: WorkerResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    const result = dispatch(req);
    res = { id: req.id, ok: true, result };
    transfer = transferablesOf(result);
  } catch (e) {
    res = { id: req.id, ok: false, error: serializeError(e, req.method) };
  }
  port.postMessage(res, transfer);
});
