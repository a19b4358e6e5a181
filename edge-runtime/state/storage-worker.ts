import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import { StateError, serializeError } from './state-errors.ts';
import { packBytes, transferablesOf, unpackBytes } from './worker-protocol.ts';
import type { PackedCheckpoint, PackedOutbox, WorkerApi, WorkerRequest, WorkerResponse } from './worker-protocol.ts';
import type { OutboxInput, Priority, StateRow } from './store-types.ts';

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
    const r = open().commitCheckpointChunks({
      checkpointId: c.checkpointId,
      consumedOffset: c.consumedOffset,
      ...(c.nowMs === undefined ? {} : { nowMs: c.nowMs }),
      stateUpserts: stateChunks(c),
      stateDeletes: c.deletes,
      stateDeletePrefixes: c.deletePrefixes ?? [],
      outbox: outboxChunks(c.outbox),
    });
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

/** Rows built per chunk from the packed columns: they die young (see packCheckpoint in worker-store.ts). */
const CHUNK_ROWS = 1024;

/**
 * The upserts in key order (the order SQLite's index wants them in, as CheckpointTable sorts a whole
 * batch; sorting each chunk alone would sweep the table once per chunk), a chunk at a time.
 */
function* stateChunks(c: PackedCheckpoint): Generator<StateRow[]> {
  const { text, ends: keyEnds } = c.upsertKeys;
  const { data, ends: valueEnds } = c.upsertValues;
  const runs = c.upsertNs;
  const n = keyEnds.length;
  // Row i's namespace (index into runs.values) and key; keys are slices of one string (no copy).
  const nsOf = new Uint32Array(n);
  const keys: string[] = new Array(n);
  let sorted = true;
  for (let i = 0, run = 0; i < n; i++) {
    while (i >= runs.ends[run]!) run++;
    nsOf[i] = run;
    keys[i] = text.slice(i === 0 ? 0 : keyEnds[i - 1]!, keyEnds[i]!);
    if (sorted && i > 0 && compareRows(runs.values, nsOf, keys, i - 1, i) > 0) sorted = false;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) order.sort((a, b) => compareRows(runs.values, nsOf, keys, a, b));
  for (let k = 0; k < n;) {
    const chunk: StateRow[] = new Array(Math.min(CHUNK_ROWS, n - k));
    for (let j = 0; j < chunk.length; j++, k++) {
      const i = order[k]!;
      chunk[j] = { ns: runs.values[nsOf[i]!]!, key: keys[i]!, value: data.subarray(i === 0 ? 0 : valueEnds[i - 1]!, valueEnds[i]!) };
    }
    yield chunk;
  }
}

/** (ns, key) order of rows a and b, as CheckpointTable compares them. */
function compareRows(nsValues: readonly string[], nsOf: Uint32Array, keys: readonly string[], a: number, b: number): number {
  const na = nsValues[nsOf[a]!]!;
  const nb = nsValues[nsOf[b]!]!;
  if (na !== nb) return na < nb ? -1 : 1;
  const ka = keys[a]!;
  const kb = keys[b]!;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function* outboxChunks(o: PackedOutbox): Generator<OutboxInput[]> {
  const n = o.priorities.length;
  const { text, ends: seriesEnds } = o.series;
  const { data, ends: payloadEnds } = o.payloads;
  let run = 0;
  let seriesAt = 0;
  let payloadAt = 0;
  for (let i = 0; i < n;) {
    const chunk: OutboxInput[] = new Array(Math.min(CHUNK_ROWS, n - i));
    for (let j = 0; j < chunk.length; j++, i++) {
      while (i >= o.kinds.ends[run]!) run++;
      const seriesEnd = seriesEnds[i]!;
      const payloadEnd = payloadEnds[i]!;
      chunk[j] = {
        priority: o.priorities[i] as Priority, kind: o.kinds.values[run]!, series: text.slice(seriesAt, seriesEnd),
        tStart: o.tStart[i]!, tEnd: o.tEnd[i]!, payload: data.subarray(payloadAt, payloadEnd),
      };
      seriesAt = seriesEnd;
      payloadAt = payloadEnd;
    }
    yield chunk;
  }
}

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
