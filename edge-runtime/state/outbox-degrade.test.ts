import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'cbor-x';
import { SqliteStore } from './sqlite-store.ts';
import { decodeWindowPayload, encodeWindowPayload, type OutboxWindow } from './window-merge.ts';
import type { DegradeSummary, OutboxInput, OutboxRow } from './store-types.ts';
import { rng, tempDir } from './test-support.ts';

const MIN = 60_000;
const DEVICES = 10;

interface Sim {
  store: SqliteStore;
  inserted: { anomalies: Set<string>; rows: number; byPriority: [number, number, number] };
  /** Latest version's count per window identity (series@start). */
  finalCounts: Map<string, number>;
  summed: DegradeSummary;
  aggregatesDroppedWhileRawLeft: number;
}

function windowRow(device: number, start: number, version: number, count: number): OutboxInput {
  const w: OutboxWindow = {
    type: 'window', pipeline: 'p', key: { deviceId: `d${device}` }, start, end: start + MIN, version, count,
    values: { count, sum: count * 2, min: 1, max: 3, mean: 2 },
  };
  return { priority: 1, kind: 'window', series: `p|d${device}`, tStart: start, tEnd: start + MIN, payload: encodeWindowPayload(w) };
}

/**
 * Minutes of an offline gateway: every simulated minute one checkpoint with a
 * window result per device, `latePerMinute` late records of 300 B, an
 * anomaly every 37 minutes and a correction (version 2) every 50 minutes.
 * Nothing is ever acked.
 */
function simulate(file: string, minutes: number, latePerMinute: number, maxBytes: number): Sim {
  const store = SqliteStore.open({
    path: file, synchronous: 'NORMAL',
    outbox: { maxBytes, lowWaterRatio: 0.9, maxMergeSpanMs: 60 * MIN, mergeSettleMs: 5 * MIN, windowSpecs: { p: [{ fn: 'count' }, { fn: 'sum' }, { fn: 'min' }, { fn: 'max' }, { fn: 'mean' }] } },
  });
  const r = rng(3);
  const sim: Sim = {
    store, inserted: { anomalies: new Set(), rows: 0, byPriority: [0, 0, 0] }, finalCounts: new Map(),
    summed: { merges: 0, superseded: 0, dropped: [0, 0, 0], droppedBytes: 0 }, aggregatesDroppedWhileRawLeft: 0,
  };
  for (let m = 0; m < minutes; m++) {
    const now = m * MIN + 5000;
    const rows: OutboxInput[] = [];
    for (let d = 0; d < DEVICES; d++) {
      const count = 1 + Math.floor(r() * 100);
      rows.push(windowRow(d, m * MIN, 1, count));
      sim.finalCounts.set(`p|d${d}@${m * MIN}`, count);
    }
    if (m % 50 === 49) {
      const start = (m - 2) * MIN;
      const count = sim.finalCounts.get(`p|d0@${start}`)! + 1;
      rows.push(windowRow(0, start, 2, count));
      sim.finalCounts.set(`p|d0@${start}`, count);
    }
    for (let i = 0; i < latePerMinute; i++) {
      rows.push({ priority: 2, kind: 'late', series: `p|d${i % DEVICES}`, tStart: m * MIN, tEnd: m * MIN, payload: new Uint8Array(300).fill(m & 255) });
    }
    if (m % 37 === 0) {
      const id = `anomaly-${m}`;
      sim.inserted.anomalies.add(id);
      rows.push({ priority: 0, kind: 'anomaly', series: 'p|d1', tStart: m * MIN, tEnd: m * MIN, payload: new TextEncoder().encode(id) });
    }
    for (const row of rows) sim.inserted.byPriority[row.priority]++;
    sim.inserted.rows += rows.length;
    const res = store.commitCheckpoint({ checkpointId: m + 1, consumedOffset: 0, nowMs: now, stateUpserts: [], stateDeletes: [], outbox: rows });
    const d = res.degrade;
    sim.summed = {
      merges: sim.summed.merges + d.merges, superseded: sim.summed.superseded + d.superseded,
      dropped: [sim.summed.dropped[0] + d.dropped[0], sim.summed.dropped[1] + d.dropped[1], sim.summed.dropped[2] + d.dropped[2]],
      droppedBytes: sim.summed.droppedBytes + d.droppedBytes,
    };
    if (d.dropped[1] > 0 && store.outboxStats().rowsByPriority[2] > 0) sim.aggregatesDroppedWhileRawLeft++;
  }
  return sim;
}

function allRows(store: SqliteStore): OutboxRow[] {
  return store.readOutbox({ afterSeq: 0, limit: 1_000_000 });
}

/** The checks every run must pass, whatever the quota. */
function assertExactBookkeeping(sim: Sim): { rows: OutboxRow[]; totals: DegradeSummary } {
  const { store } = sim;
  const stats = store.outboxStats();
  const rows = allRows(store);
  const totals = stats.degradeTotals;
  // The persisted counters equal the sum of what every checkpoint reported.
  assert.deepEqual(totals, sim.summed);
  // Every inserted row is either still queued, merged away (−1 row per merge), superseded or dropped.
  const queued = rows.filter((r) => r.kind !== 'degrade');
  assert.equal(sim.inserted.rows, queued.length + totals.merges + totals.superseded + totals.dropped[0] + totals.dropped[1] + totals.dropped[2]);
  // Exactly one degrade record, carrying the totals and every removed seq.
  const degrade = rows.filter((r) => r.kind === 'degrade');
  assert.equal(degrade.length, 1);
  const rec = decode(degrade[0]!.payload) as { type: string; totals: DegradeSummary; removedSeqs: [number, number][] };
  assert.equal(rec.type, 'degrade');
  assert.deepEqual(rec.totals, totals);
  assert.deepEqual(rec.removedSeqs, store.outboxRemovedRanges());
  // Queued seqs and removed ranges partition 1..nextSeq−1 exactly.
  const seen = new Uint8Array(stats.nextSeq);
  for (const r of rows) seen[r.seq]! += 1;
  for (const [from, to] of rec.removedSeqs) for (let s = from; s <= to; s++) seen[s]! += 1;
  for (let s = 1; s < stats.nextSeq; s++) assert.equal(seen[s], 1, `seq ${s}`);
  // Under quota after degrading; anomalies never dropped while anything else was left.
  assert.equal(stats.overQuota, false);
  assert.equal(sim.aggregatesDroppedWhileRawLeft, 0, 'aggregates were dropped while raw rows were left');
  return { rows, totals };
}

describe('outbox quota: degrade before drop', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  test('two offline days in 1 MiB: windows merge, raw rows go, anomalies and readings counts survive exactly', () => {
    const sim = simulate(tmp.file('a.db'), 2 * 24 * 60, 3, 1024 * 1024);
    const { rows, totals } = assertExactBookkeeping(sim);
    assert.ok(totals.merges > 0, 'windows were merged');
    assert.ok(totals.superseded > 0, 'older versions were superseded');
    assert.ok(totals.dropped[2] > 0, 'late rows were dropped');
    assert.deepEqual([totals.dropped[0], totals.dropped[1]], [0, 0], 'no anomaly and no aggregate was dropped');
    const anomalies = rows.filter((r) => r.kind === 'anomaly').map((r) => new TextDecoder().decode(r.payload));
    assert.deepEqual(new Set(anomalies), sim.inserted.anomalies);
    // No aggregate was dropped, so every reading counted by a final window version is still counted once
    // (as the cloud counts: of one window identity only the highest version).
    const latest = new Map<string, OutboxWindow>();
    for (const r of rows.filter((x) => x.kind === 'window')) {
      const w = decodeWindowPayload(r.payload);
      const id = `${r.series}@${w.start}-${w.end}`;
      if ((latest.get(id)?.version ?? 0) < w.version) latest.set(id, w);
    }
    const windows = [...latest.values()];
    const total = [...sim.finalCounts.values()].reduce((a, b) => a + b, 0);
    assert.equal(windows.reduce((a, w) => a + w.count, 0), total);
    assert.equal(windows.reduce((a, w) => a + (w.values['sum'] ?? 0), 0), windows.reduce((a, w) => a + w.count * 2, 0));
    for (const w of windows) assert.ok(w.end - w.start <= 60 * MIN, 'merge span bounded');
    // Per device, merged windows tile time without overlap.
    for (let d = 0; d < DEVICES; d++) {
      const mine = windows.filter((w) => w.key['deviceId'] === `d${d}`).sort((a, b) => a.start - b.start);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i - 1]!.end <= mine[i]!.start, `d${d} overlap at ${mine[i]!.start}: ${JSON.stringify(mine.slice(Math.max(0, i - 2), i + 2).map((w) => [w.start / MIN, w.end / MIN, w.version, w.merged?.windows]))}`);
    }
  });

  test('a quota too small for the aggregates drops raw first, then aggregates, never anomalies', () => {
    const sim = simulate(tmp.file('b.db'), 12 * 60, 2, 16 * 1024);
    const { rows, totals } = assertExactBookkeeping(sim);
    assert.ok(totals.dropped[1] > 0, 'aggregates had to go');
    assert.equal(totals.dropped[0], 0);
    const anomalies = rows.filter((r) => r.kind === 'anomaly').map((r) => new TextDecoder().decode(r.payload));
    assert.deepEqual(new Set(anomalies), sim.inserted.anomalies);
  });

  test('window rows of a pipeline without a merge spec are dropped, not merged', () => {
    const store = SqliteStore.open({ path: tmp.file('c.db'), synchronous: 'NORMAL', outbox: { maxBytes: 8 * 1024 } });
    let summed = 0;
    for (let m = 0; m < 100; m++) {
      const res = store.commitCheckpoint({ checkpointId: m + 1, consumedOffset: 0, nowMs: m, stateUpserts: [], stateDeletes: [], outbox: [windowRow(0, m * MIN, 1, 5)] });
      assert.equal(res.degrade.merges, 0);
      summed += res.degrade.dropped[1];
    }
    assert.ok(summed > 0);
    assert.equal(store.outboxStats().degradeTotals.dropped[1], summed);
    store.close();
  });

  test("a 'window' row whose payload is not a window result is dropped, never merged, and never blocks a checkpoint", () => {
    const store = SqliteStore.open({
      path: tmp.file('d.db'), synchronous: 'NORMAL',
      outbox: { maxBytes: 4 * 1024, mergeSettleMs: 0, windowSpecs: { p: [{ fn: 'count' }] } },
    });
    let dropped = 0;
    for (let m = 0; m < 60; m++) {
      const junk: OutboxInput = { priority: 1, kind: 'window', series: 'p|d0', tStart: m * MIN, tEnd: (m + 1) * MIN, payload: new Uint8Array(100).fill(0xff) };
      const res = store.commitCheckpoint({ checkpointId: m + 1, consumedOffset: 0, nowMs: m * MIN, stateUpserts: [], stateDeletes: [], outbox: [junk] });
      assert.equal(res.degrade.merges, 0);
      dropped += res.degrade.dropped[1];
    }
    assert.ok(dropped > 0);
    assert.equal(store.outboxStats().overQuota, false);
    store.close();
  });
});
