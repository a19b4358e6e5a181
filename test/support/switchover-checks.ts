/**
 * What a switchover run must end with, checked against the real ground
 * truth once the stack has stopped: the gateway's own outbox state (its
 * committed seqs 1..N, what it trimmed as acked, what it still holds) and
 * the cloud's database (every row it stored, in arrival order).
 *
 * - exactly once: the cloud holds seqs 1..M, each once, no gaps, no
 *   tombstones; the gateway issued 1..N and still holds exactly M'+1..N
 *   where M' is what it saw acked (M' ≤ M ≤ N; rows it sent whose ack it
 *   never saw are in both, byte for byte the same); nothing was dropped or
 *   merged; no window version or anomaly appears twice under two seqs.
 * - live first: the rows the uplink sent as backlog after an outage
 *   (`replayed`) and the anomalies that overtook them (arrival order = the
 *   cloud table's rowid).
 *
 * Shared by test/switchover.test.ts and test/soak/soak-switchover.ts.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { LocalStateStore } from '../../edge-runtime/state/local-store.ts';
import type { OutboxRow } from '../../edge-runtime/state/store-types.ts';
import { decodeAnomaly, decodeWindow } from '../../cloud-sync/payloads.ts';
import type { StoredRecord } from '../../cloud-sync/storage/storage-types.ts';

/** A stored record as the cloud's table holds it, with its arrival order. */
export type CloudRecord = Pick<StoredRecord, 'seq' | 'kind' | 'priority' | 'series' | 'tStart' | 'tEnd' | 'replayed' | 'receivedAtMs'> & {
  /** Arrival order. */
  readonly rowid: number;
  readonly payload: Buffer;
};

export interface CloudState {
  readonly records: readonly CloudRecord[];
  readonly skips: readonly { readonly from: number; readonly to: number }[];
  readonly contiguousSeq: number;
  readonly highestSeq: number;
}

/** The cloud's database, read directly (the service is stopped, or WAL lets a reader in). */
export function readCloud(cloudDb: string, gatewayId: string): CloudState {
  const db = new Database(cloudDb, { readonly: true, fileMustExist: true });
  try {
    const g = db.prepare('SELECT id, contiguous_seq AS c, highest_seq AS h FROM gateways WHERE name = ?').get(gatewayId) as { id: number; c: number; h: number } | undefined;
    assert.ok(g !== undefined, `the cloud does not know gateway ${gatewayId}`);
    const records = (db.prepare(`SELECT rowid, seq, kind, priority, series, t_start AS tStart, t_end AS tEnd, replayed, received_at_ms AS receivedAtMs, payload
      FROM records WHERE gateway_id = ? ORDER BY seq`).all(g.id) as (Omit<CloudRecord, 'replayed'> & { replayed: number })[])
      .map((r) => ({ ...r, replayed: r.replayed !== 0 }));
    const skips = db.prepare('SELECT from_seq AS "from", to_seq AS "to" FROM skips WHERE gateway_id = ?').all(g.id) as { from: number; to: number }[];
    return { records, skips, contiguousSeq: g.c, highestSeq: g.h };
  } finally {
    db.close();
  }
}

export interface GatewayOutbox {
  readonly nextSeq: number;
  readonly ackedSeq: number;
  readonly rows: readonly OutboxRow[];
  readonly dropped: number;
  readonly merged: number;
}

/** The gateway's state database after it stopped: seq counter, acked seq, and the rows it still holds. */
export async function readGatewayOutbox(gatewayDb: string): Promise<GatewayOutbox> {
  const s = await LocalStateStore.open({ path: gatewayDb });
  try {
    const st = await s.outboxStats(Date.now());
    const rows: OutboxRow[] = [];
    for (let after = 0; ;) {
      const page = await s.readOutbox({ afterSeq: after, limit: 1000 });
      if (page.length === 0) break;
      rows.push(...page);
      after = page[page.length - 1]!.seq;
    }
    const d = st.degradeTotals;
    return { nextSeq: st.nextSeq, ackedSeq: st.ackedSeq, rows, dropped: d.dropped[0] + d.dropped[1] + d.dropped[2], merged: d.merges };
  } finally {
    await s.close();
  }
}

export interface Delivery {
  /** Seqs the gateway committed (1..issued). */
  readonly issued: number;
  /** Seqs the cloud holds (1..inCloud). */
  readonly inCloud: number;
  /** Committed after the last upload (the final checkpoint): still in the outbox, sent at the next start. */
  readonly leftInOutbox: number;
  readonly byKind: Readonly<Record<string, number>>;
}

/** Exactly-once delivery: see the header. Throws an AssertionError saying what is wrong. */
export function checkExactlyOnce(cloud: CloudState, gw: GatewayOutbox): Delivery {
  const issued = gw.nextSeq - 1;
  assert.ok(issued > 0, 'the gateway committed no outbox rows');
  const seqs = cloud.records.map((r) => r.seq);
  const m = seqs.length;
  const firstGap = seqs.findIndex((s, i) => s !== i + 1);
  assert.equal(firstGap, -1, `the cloud's seqs are not 1..${m}: at index ${firstGap} found ${seqs[firstGap]}`);
  assert.deepEqual(cloud.skips, [], 'the cloud holds tombstones: rows were declared lost');
  assert.equal(cloud.contiguousSeq, m, 'the cloud acks what it holds');
  assert.equal(cloud.highestSeq, m);
  assert.equal(gw.dropped, 0, 'the outbox dropped rows');
  assert.equal(gw.merged, 0, 'the outbox merged rows');
  assert.ok(m <= issued, `the cloud holds seq ${m}, the gateway issued only ${issued}`);
  assert.ok(gw.ackedSeq <= m, `the gateway trimmed up to ${gw.ackedSeq}, the cloud holds only ${m}`);
  const held = gw.rows.map((r) => r.seq);
  assert.deepEqual(held, Array.from({ length: issued - gw.ackedSeq }, (_, i) => gw.ackedSeq + 1 + i), 'the outbox holds exactly the unacked seqs');
  for (const r of gw.rows) {
    if (r.seq > m) break;
    const c = cloud.records[r.seq - 1]!;
    assert.ok(c.kind === r.kind && c.series === r.series && Buffer.from(r.payload).equals(c.payload), `seq ${r.seq} differs between the outbox and the cloud`);
  }
  // A row stored twice under two seqs (a replay that re-issued it) would show as the same window version or anomaly twice.
  const seen = new Map<string, number>();
  const byKind: Record<string, number> = {};
  for (const r of cloud.records) {
    byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
    let key: string | null = null;
    if (r.kind === 'window') {
      const w = decodeWindow(r.payload);
      assert.ok(w !== null, `seq ${r.seq}: undecodable window`);
      key = `w|${r.series}|${w.start}|${w.end}|${w.version}`;
    } else if (r.kind === 'anomaly') {
      const a = decodeAnomaly(r.payload);
      assert.ok(a !== null, `seq ${r.seq}: undecodable anomaly`);
      key = `a|${r.series}|${a.eventTime}|${a.detector}`;
    }
    if (key === null) continue;
    const other = seen.get(key);
    assert.equal(other, undefined, `seq ${r.seq} repeats seq ${other} (${key})`);
    seen.set(key, r.seq);
  }
  return { issued, inCloud: m, leftInOutbox: issued - m, byKind };
}

export interface LiveFirst {
  /** Rows the uplink sent as backlog (written while it was failing). */
  readonly backlog: number;
  readonly backlogAnomalies: number;
  /** Anomalies that reached the cloud before the backlog's last row, though their seq is higher than rows still queued. */
  readonly overtaking: number;
  /** Of those, anomalies made after the link came back (not backlog themselves). */
  readonly liveDuringDrain: number;
  /** Backlog anomalies that arrived only with the last backlog batch (nothing left to overtake). */
  readonly withLastBatch: number;
}

/**
 * Live first (uplink README): after an outage, anomalies overtake the
 * ordered backlog. Every backlog anomaly beyond the first ordered batch
 * must arrive before the backlog's last row. `sinceSeq` restricts to rows
 * after an earlier phase (a soak has several outages; pass the seq before
 * the outage).
 */
export function checkLiveFirst(cloud: CloudState, o: { maxRecords: number; sinceSeq?: number; untilSeq?: number }): LiveFirst {
  const recs = cloud.records.filter((r) => r.seq > (o.sinceSeq ?? 0) && r.seq <= (o.untilSeq ?? Infinity));
  const backlog = recs.filter((r) => r.replayed);
  assert.ok(backlog.length > 0, 'no backlog: the outage left nothing to replay');
  const lastArrival = Math.max(...backlog.map((r) => r.rowid));
  const firstSeq = Math.min(...backlog.map((r) => r.seq));
  const lastSeq = Math.max(...backlog.map((r) => r.seq));
  const anomalies = recs.filter((r) => r.kind === 'anomaly');
  const backlogAnomalies = anomalies.filter((r) => r.replayed);
  let overtaking = 0;
  let liveDuringDrain = 0;
  let withLastBatch = 0;
  for (const a of anomalies) {
    if (a.rowid < lastArrival && a.seq > firstSeq) {
      // Out of seq order: some lower seq of the backlog arrived after it.
      if (recs.some((r) => r.seq < a.seq && r.replayed && r.rowid > a.rowid)) {
        overtaking++;
        if (!a.replayed) liveDuringDrain++;
      }
    }
    if (a.replayed && a.rowid > lastArrival - o.maxRecords) withLastBatch++;
    // The first ordered batch may carry the backlog's earliest anomalies in order; beyond it, none may wait for the end.
    if (a.replayed && a.seq > firstSeq + o.maxRecords && a.seq < lastSeq - o.maxRecords) {
      assert.ok(a.rowid < lastArrival, `backlog anomaly seq ${a.seq} arrived after the backlog's end (rowid ${a.rowid} ≥ ${lastArrival})`);
    }
  }
  return { backlog: backlog.length, backlogAnomalies: backlogAnomalies.length, overtaking, liveDuringDrain, withLastBatch };
}

/**
 * Short uplink timeouts and backoff (the gateway config's `cloud.timeouts` and
 * `cloud.backoff`) make a blackhole test fast; the waits are bounded by them.
 */
export function uplinkTuning(): { readonly cloud: Record<string, unknown>; readonly responseMs: number; readonly backoffMaxMs: number } {
  return {
    cloud: { timeouts: { connect: '1s', response: '2s', bodyIdle: '2s', total: '10s' }, backoff: { base: '100ms', max: '1s' } },
    responseMs: 2000,
    backoffMaxMs: 1000,
  };
}
