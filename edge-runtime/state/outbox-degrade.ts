import { Encoder } from 'cbor-x';
import type { SqlDatabase, SqlStatement } from './sql-database.ts';
import type { CountersTable } from './counters-table.ts';
import type { OutboxTable } from './outbox-table.ts';
import type { DegradeSummary, Priority } from './store-types.ts';
import { canMerge, decodeWindowPayload, encodeWindowPayload, mergeWindows, type MergeOutput, type OutboxWindow } from './window-merge.ts';

/**
 * Outbox quota, degrade before drop (DESIGN invariant 6). Runs inside the
 * checkpoint transaction once the outbox is over `maxBytes`, and works down
 * to `maxBytes × lowWaterRatio`, in this order:
 *
 * 1. superseded: a window row with a newer version of the same window
 *    queued behind it (same series and [tStart, tEnd)) is deleted — lossless.
 * 2. merge: adjacent window rows (kind 'window', priority 1, a.tEnd ===
 *    b.tStart, no other window row of the series overlapping) merge into one row over both windows (window-merge.ts),
 *    oldest first, in passes (so merged rows can merge again) until the
 *    merged span would pass maxMergeSpanMs. Only rows older than
 *    mergeSettleMs merge, so a late correction never meets a merged window.
 *    The merged row gets a new seq and the creation time of the older row.
 * 3. drop: oldest rows first, raw/late (2), then aggregates (1), then
 *    anomalies (0) last. The degrade record itself is never dropped.
 *
 * Every removed seq goes into outbox_removed; counters (persisted, exact)
 * count merges (each takes the row count down by one), superseded rows, and
 * dropped rows per priority and bytes. When anything changed, the live
 * degrade record is replaced by a new one (kind 'degrade', priority 0, new
 * seq): { type: 'degrade', atMs, totals (cumulative counters), removedSeqs:
 * [[from, to], …] } — all seqs not yet acked that will never be delivered,
 * including the replaced degrade record's own. Totals are cumulative, so a
 * receiver that sees two degrade records keeps the latest; removedSeqs are a
 * set it may treat as delivered when computing its contiguous ack.
 */
export interface DegradeOptions {
  readonly maxBytes: number;
  readonly lowWaterRatio: number;
  readonly maxMergeSpanMs: number;
  readonly mergeSettleMs: number;
  readonly plans: ReadonlyMap<string, readonly MergeOutput[]>;
}

interface Candidate {
  seq: number; series: string; tStart: number; tEnd: number; createdAtMs: number;
}

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
const PAGE = 4096;

export function zeroSummary(): DegradeSummary {
  return { merges: 0, superseded: 0, dropped: [0, 0, 0], droppedBytes: 0 };
}

export class OutboxDegrader {
  private readonly supersededStmt: SqlStatement;
  private readonly mergePageStmt: SqlStatement;
  private readonly payloadStmt: SqlStatement;
  private readonly othersStmt: SqlStatement;
  private readonly dropPageStmt: SqlStatement;
  private readonly degradeRowsStmt: SqlStatement;

  constructor(
    db: SqlDatabase,
    private readonly outbox: OutboxTable,
    private readonly counters: CountersTable,
    private readonly opts: DegradeOptions,
  ) {
    this.supersededStmt = db.prepare(`SELECT o.seq AS seq FROM outbox o WHERE o.kind = 'window' AND EXISTS (
        SELECT 1 FROM outbox n WHERE n.series = o.series AND n.t_start = o.t_start AND n.t_end = o.t_end
        AND n.kind = 'window' AND n.seq > o.seq) ORDER BY o.seq`);
    this.mergePageStmt = db.prepare(`SELECT seq, series, t_start AS tStart, t_end AS tEnd, created_at_ms AS createdAtMs
        FROM outbox WHERE kind = 'window' AND priority = 1 AND (created_at_ms, seq) > (?, ?) AND created_at_ms <= ?
        ORDER BY created_at_ms, seq LIMIT ${PAGE}`);
    this.payloadStmt = db.prepare('SELECT payload FROM outbox WHERE seq = ?');
    // Any other window row of the series overlapping the merged span (hopping windows, an unsettled version).
    this.othersStmt = db.prepare(`SELECT 1 AS x FROM outbox WHERE series = ? AND t_start < ? AND t_end > ?
        AND kind = 'window' AND seq NOT IN (?, ?) LIMIT 1`);
    this.dropPageStmt = db.prepare(`SELECT seq FROM outbox WHERE priority = ? AND kind != 'degrade'
        ORDER BY created_at_ms, seq LIMIT 512`);
    this.degradeRowsStmt = db.prepare(`SELECT seq FROM outbox WHERE kind = 'degrade'`);
  }

  get target(): number {
    return Math.floor(this.opts.maxBytes * this.opts.lowWaterRatio);
  }

  /** Call inside the transaction that added rows. */
  enforce(nowMs: number): DegradeSummary {
    const s = { merges: 0, superseded: 0, dropped: [0, 0, 0] as [number, number, number], droppedBytes: 0 };
    if (this.outbox.bytes <= this.opts.maxBytes) return s;
    // Acked rows still on disk are the cloud's already: out first, so nothing below sees them.
    this.outbox.trim();
    this.dropSuperseded(s);
    if (this.outbox.bytes > this.target) this.mergeAll(s, nowMs - this.opts.mergeSettleMs);
    for (const p of [2, 1, 0] as const) {
      if (this.outbox.bytes <= this.target) break;
      this.drop(p, s);
    }
    if (s.merges + s.superseded + s.dropped[0] + s.dropped[1] + s.dropped[2] === 0) return s;
    this.counters.add('outbox.merges', s.merges);
    this.counters.add('outbox.superseded', s.superseded);
    for (const p of [0, 1, 2] as const) this.counters.add(`outbox.dropped.${p}`, s.dropped[p]);
    this.counters.add('outbox.droppedBytes', s.droppedBytes);
    this.counters.add('outbox.degradePasses', 1);
    this.writeDegradeRecord(nowMs);
    this.outbox.persistNextSeq();
    return s;
  }

  totals(): DegradeSummary {
    const c = this.counters;
    return {
      merges: c.get('outbox.merges'),
      superseded: c.get('outbox.superseded'),
      dropped: [c.get('outbox.dropped.0'), c.get('outbox.dropped.1'), c.get('outbox.dropped.2')],
      droppedBytes: c.get('outbox.droppedBytes'),
    };
  }

  private dropSuperseded(s: { superseded: number }): void {
    for (const r of this.supersededStmt.all() as { seq: number }[]) {
      this.outbox.remove(r.seq);
      s.superseded++;
    }
  }

  private mergeAll(s: { merges: number }, settledAt: number): void {
    for (;;) {
      const before = s.merges;
      this.mergePass(s, settledAt);
      if (this.outbox.bytes <= this.target || s.merges === before) return;
    }
  }

  /** One pass over all window rows, oldest first, page by page; returns when under target. */
  private mergePass(s: { merges: number }, settledAt: number): void {
    let cursor: [number, number] = [Number.MIN_SAFE_INTEGER, 0];
    for (;;) {
      const page = this.mergePageStmt.all(cursor[0], cursor[1], settledAt) as Candidate[];
      if (page.length === 0) return;
      const last = page[page.length - 1]!;
      cursor = [last.createdAtMs, last.seq];
      for (const [a, b] of this.pairs(page)) {
        if (!this.mergePair(a, b)) continue;
        s.merges++;
        if (this.outbox.bytes <= this.target) return;
      }
      if (page.length < PAGE) return;
    }
  }

  /** Adjacent neighbours in time within one series, paired greedily, ordered by the older row's age. */
  private pairs(page: readonly Candidate[]): [Candidate, Candidate][] {
    const bySeries = new Map<string, Candidate[]>();
    for (const c of page) {
      let l = bySeries.get(c.series);
      if (l === undefined) bySeries.set(c.series, (l = []));
      l.push(c);
    }
    const out: [Candidate, Candidate][] = [];
    for (const list of bySeries.values()) {
      list.sort((x, y) => x.tStart - y.tStart || x.seq - y.seq);
      for (let i = 0; i + 1 < list.length; i++) {
        const a = list[i]!;
        const b = list[i + 1]!;
        if (a.tEnd === b.tStart && b.tEnd - a.tStart <= this.opts.maxMergeSpanMs) {
          out.push([a, b]);
          i++;
        }
      }
    }
    const age = (p: [Candidate, Candidate]): [number, number] =>
      p[0].createdAtMs < p[1].createdAtMs || (p[0].createdAtMs === p[1].createdAtMs && p[0].seq < p[1].seq)
        ? [p[0].createdAtMs, p[0].seq] : [p[1].createdAtMs, p[1].seq];
    return out.sort((x, y) => {
      const ax = age(x);
      const ay = age(y);
      return ax[0] - ay[0] || ax[1] - ay[1];
    });
  }

  private mergePair(a: Candidate, b: Candidate): boolean {
    if (this.othersStmt.get(a.series, b.tEnd, a.tStart, a.seq, b.seq) !== undefined) return false;
    let wa: OutboxWindow;
    let wb: OutboxWindow;
    try {
      wa = decodeWindowPayload((this.payloadStmt.get(a.seq) as { payload: Uint8Array }).payload);
      wb = decodeWindowPayload((this.payloadStmt.get(b.seq) as { payload: Uint8Array }).payload);
    } catch {
      return false; // not a window result after all: never merged, may still be dropped
    }
    const plan = this.opts.plans.get(wa.pipeline);
    if (plan === undefined || !canMerge(wa, wb)) return false;
    const merged = mergeWindows(wa, wb, plan);
    this.outbox.remove(a.seq);
    this.outbox.remove(b.seq);
    this.outbox.insertOne({
      priority: 1, kind: 'window', series: a.series, tStart: a.tStart, tEnd: b.tEnd, payload: encodeWindowPayload(merged),
    }, Math.min(a.createdAtMs, b.createdAtMs));
    return true;
  }

  private drop(p: Priority, s: { dropped: [number, number, number]; droppedBytes: number }): void {
    for (;;) {
      const page = this.dropPageStmt.all(p) as { seq: number }[];
      if (page.length === 0) return;
      for (const r of page) {
        const { bytes } = this.outbox.remove(r.seq);
        s.dropped[p]++;
        s.droppedBytes += bytes;
        if (this.outbox.bytes <= this.target) return;
      }
    }
  }

  private writeDegradeRecord(nowMs: number): void {
    for (const r of this.degradeRowsStmt.all() as { seq: number }[]) this.outbox.remove(r.seq);
    const payload = Uint8Array.prototype.slice.call(cbor.encode({
      type: 'degrade',
      atMs: nowMs,
      totals: this.totals(),
      removedSeqs: this.outbox.removedRanges(),
    }));
    this.outbox.insertOne({ priority: 0, kind: 'degrade', series: '', tStart: nowMs, tEnd: nowMs, payload }, nowMs);
  }
}
