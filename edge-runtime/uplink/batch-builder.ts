import { WIRE_VERSION, type BatchRequest, type WireRecord } from '../../cloud-sync/protocol.ts';
import type { OutboxRow } from '../state/store-types.ts';

/**
 * Outbox rows to wire batches. Pure.
 *
 * The outbox holds every seq in (ackedSeq, nextSeq) except those it removed
 * under quota (merged away, superseded, dropped — listed in its degrade
 * record): rows leave it only by ack (≤ ackedSeq) or by such removal. So a
 * seq missing between `cursor` and a row read after it is a removed seq,
 * and the ordered batch declares it `skipped` (protocol.ts): the cloud
 * keeps it as delivered-but-dropped. Reading rows in seq order after the
 * cursor and declaring the gaps is therefore exact, with no need to parse
 * the degrade record.
 */
export type ReplayedRule = (row: OutboxRow) => boolean;

function toWire(r: OutboxRow, replayed: boolean): WireRecord {
  return { seq: r.seq, kind: r.kind, priority: r.priority, series: r.series, tStart: r.tStart, tEnd: r.tEnd, payload: r.payload, replayed };
}

/** An ordered batch covering (cursor, last row's seq]; rows ascending, all > cursor, at least one. */
export function orderedBatch(gatewayId: string, cursor: number, rows: readonly OutboxRow[], replayed: ReplayedRule, sentAtMs: number): BatchRequest {
  const skipped: [number, number][] = [];
  let expect = cursor + 1;
  for (const r of rows) {
    if (r.seq < expect) throw new RangeError(`outbox row ${r.seq} is not after ${expect - 1}`);
    if (r.seq > expect) skipped.push([expect, r.seq - 1]);
    expect = r.seq + 1;
  }
  return {
    v: WIRE_VERSION, gatewayId, lane: 'ordered', firstSeq: cursor + 1, lastSeq: expect - 1, skipped,
    records: rows.map((r) => toWire(r, replayed(r))), sentAtMs,
  };
}

/** A live-lane batch: priority-0 rows ahead of the ordered lane, sent before the backlog. */
export function liveBatch(gatewayId: string, rows: readonly OutboxRow[], replayed: ReplayedRule, sentAtMs: number): BatchRequest {
  const records = rows.map((r) => toWire(r, replayed(r)));
  return { v: WIRE_VERSION, gatewayId, lane: 'live', firstSeq: records[0]!.seq, lastSeq: records[records.length - 1]!.seq, skipped: [], records, sentAtMs };
}

/**
 * Paces bytes to a rate (the backlog's bandwidth cap): each send pushes
 * the earliest time of the next by bytes / rate. Unlimited when rate is
 * undefined.
 */
export class Pacer {
  private nextAt = Number.NEGATIVE_INFINITY;
  constructor(private readonly bytesPerSec: number | undefined) {}

  /** ms to wait before sending now. */
  delay(nowMs: number): number {
    return this.bytesPerSec === undefined ? 0 : Math.max(0, Math.ceil(this.nextAt - nowMs));
  }

  consume(bytes: number, nowMs: number): void {
    if (this.bytesPerSec === undefined) return;
    this.nextAt = Math.max(this.nextAt, nowMs) + (bytes * 1000) / this.bytesPerSec;
  }
}
