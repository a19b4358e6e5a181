import type { SqlDatabase, SqlStatement } from './sql-database.ts';
import { getMeta, prepareSetMeta } from './schema.ts';
import { StateError } from './state-errors.ts';
import type { AckResult, OutboxInput, OutboxRow, Priority, ReadOutboxQuery } from './store-types.ts';

/** Bytes a row costs against the quota besides its payload, kind and series (row header, numbers, index entries). */
export const OUTBOX_ROW_OVERHEAD = 48;

export function outboxRowBytes(kind: string, series: string, payload: Uint8Array): number {
  return payload.byteLength + Buffer.byteLength(kind) + Buffer.byteLength(series) + OUTBOX_ROW_OVERHEAD;
}

interface DbRow {
  seq: number; priority: Priority; kind: string; series: string; tStart: number; tEnd: number;
  createdAtMs: number; bytes: number; payload: Uint8Array;
}

/**
 * Moves the rows' payloads into one buffer, each row keeping a view of its
 * bytes. A page of rows is read for the uplink on the storage worker and
 * structured-cloned to the main thread: one buffer there is one copy,
 * where a buffer per row (as the binding returns blobs) cost an
 * ArrayBuffer per row to serialize, allocate and later collect on both
 * threads.
 */
function sharePayloadBuffer(rows: DbRow[]): DbRow[] {
  let total = 0;
  for (const r of rows) total += r.payload.byteLength;
  const shared = new Uint8Array(total);
  let at = 0;
  for (const r of rows) {
    shared.set(r.payload, at);
    r.payload = shared.subarray(at, at + r.payload.byteLength);
    at += r.payload.byteLength;
  }
  return rows;
}

/**
 * Outbox rows with a strictly increasing seq per gateway (DESIGN invariant
 * 4). The next seq lives in meta (`outbox_next_seq`), written with every
 * insert, so no seq is ever handed out twice — not after acks empty the
 * table, not after a restart. Seqs that will never be delivered (merged
 * away or dropped under quota) are kept as ranges in outbox_removed until
 * acked, for the degrade record.
 *
 * Acks are logical at once and physical in bulk: ack() moves ackedSeq (rows
 * at or below it no longer exist for reads, totals and degrade) and deletes
 * them only once TRIM_SPAN seqs have been acked since the last delete. A
 * delete's cost per row falls with the rows it takes (they sit all over the
 * by-series and by-age indexes): on a 180,000-row backlog, deleting every
 * 20,000 rows instead of after every 5,000-row batch took 20-30 % less time
 * on the storage thread. At most TRIM_SPAN acked rows stay on disk; degrade
 * deletes them first (trim()).
 *
 * In-memory totals are changed inside the caller's transaction; the store
 * calls reload() when a transaction fails.
 */
/** Acked seqs between two physical deletes of acked rows. */
const TRIM_SPAN = 20_000;

export class OutboxTable {
  nextSeq = 1;
  ackedSeq = 0;
  /** Rows at or below this seq are deleted; those in (trimmedSeq, ackedSeq] are acked and still on disk. */
  private trimmedSeq = 0;
  rows = 0;
  bytes = 0;
  readonly rowsByPriority: [number, number, number] = [0, 0, 0];

  private readonly insertStmt: SqlStatement;
  private readonly setMeta: (key: string, value: number) => void;
  private readonly deleteStmt: SqlStatement;
  private readonly readStmt: SqlStatement;
  private readonly ackRowsStmt: SqlStatement;
  private readonly ackDeleteStmt: SqlStatement;
  private readonly removedBeforeStmt: SqlStatement;
  private readonly removedAtStmt: SqlStatement;
  private readonly removedInsertStmt: SqlStatement;
  private readonly removedUpdateStmt: SqlStatement;
  private readonly removedDeleteStmt: SqlStatement;

  constructor(private readonly db: SqlDatabase) {
    this.insertStmt = db.prepare(`INSERT INTO outbox (seq, priority, kind, series, t_start, t_end, created_at_ms, bytes, payload)
                                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.setMeta = prepareSetMeta(db);
    this.deleteStmt = db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING priority, bytes');
    this.readStmt = db.prepare(`SELECT seq, priority, kind, series, t_start AS tStart, t_end AS tEnd, created_at_ms AS createdAtMs,
                                       bytes, payload FROM outbox WHERE seq > ? AND priority <= ? ORDER BY seq LIMIT ?`);
    // NOT INDEXED: a seq (rowid) range; SQLite otherwise scanned the whole by-age index.
    this.ackRowsStmt = db.prepare('SELECT priority, COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox NOT INDEXED WHERE seq > ? AND seq <= ? GROUP BY priority');
    this.ackDeleteStmt = db.prepare('DELETE FROM outbox WHERE seq <= ?');
    this.removedBeforeStmt = db.prepare('SELECT from_seq AS f, to_seq AS t FROM outbox_removed WHERE from_seq <= ? ORDER BY from_seq DESC LIMIT 1');
    this.removedAtStmt = db.prepare('SELECT from_seq AS f, to_seq AS t FROM outbox_removed WHERE from_seq = ?');
    this.removedInsertStmt = db.prepare('INSERT INTO outbox_removed (from_seq, to_seq) VALUES (?, ?)');
    this.removedUpdateStmt = db.prepare('UPDATE outbox_removed SET to_seq = ? WHERE from_seq = ?');
    this.removedDeleteStmt = db.prepare('DELETE FROM outbox_removed WHERE from_seq = ?');
    this.reload();
  }

  reload(): void {
    const max = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM outbox').get() as { m: number }).m;
    this.nextSeq = Math.max(max + 1, getMeta(this.db, 'outbox_next_seq') ?? 1);
    this.ackedSeq = getMeta(this.db, 'outbox_acked_seq') ?? 0;
    const min = (this.db.prepare('SELECT MIN(seq) AS m FROM outbox').get() as { m: number | null }).m;
    this.trimmedSeq = min === null ? this.ackedSeq : Math.min(this.ackedSeq, min - 1);
    this.rows = 0;
    this.bytes = 0;
    this.rowsByPriority.fill(0);
    for (const r of this.db.prepare('SELECT priority, COUNT(*) AS n, SUM(bytes) AS b FROM outbox WHERE seq > ? GROUP BY priority').all(this.ackedSeq) as { priority: Priority; n: number; b: number }[]) {
      this.rows += r.n;
      this.bytes += r.b;
      this.rowsByPriority[r.priority] = r.n;
    }
  }

  /** Inserts rows with consecutive new seqs. Call inside a transaction. */
  insert(inputs: readonly OutboxInput[], nowMs: number): { firstSeq: number; lastSeq: number } {
    const firstSeq = this.nextSeq;
    for (const o of inputs) {
      if (o.kind === 'degrade') throw new StateError('E_STATE_ARGUMENT', "outbox kind 'degrade' is reserved for the store");
      this.insertOne(o, nowMs);
    }
    this.persistNextSeq();
    return { firstSeq, lastSeq: this.nextSeq - 1 };
  }

  /** Writes the seq counter to meta; call once after insertOne()s, in the same transaction. */
  persistNextSeq(): void {
    this.setMeta('outbox_next_seq', this.nextSeq);
  }

  /** One row with a new seq. Call inside a transaction, then persistNextSeq(). */
  insertOne(o: OutboxInput, createdAtMs: number): number {
    if (o.priority !== 0 && o.priority !== 1 && o.priority !== 2) {
      throw new StateError('E_STATE_ARGUMENT', `outbox priority must be 0, 1 or 2, got ${String(o.priority)}`);
    }
    const seq = this.nextSeq;
    const bytes = outboxRowBytes(o.kind, o.series, o.payload);
    this.insertStmt.run(seq, o.priority, o.kind, o.series, o.tStart, o.tEnd, Math.trunc(createdAtMs), bytes, o.payload);
    this.nextSeq = seq + 1;
    this.rows++;
    this.bytes += bytes;
    this.rowsByPriority[o.priority]++;
    return seq;
  }

  /** Deletes a row that will never be delivered and records its seq as removed. Returns its bytes. */
  remove(seq: number): { priority: Priority; bytes: number } {
    const r = this.deleteStmt.get(seq) as { priority: Priority; bytes: number } | undefined;
    if (r === undefined) throw new StateError('E_STATE_ARGUMENT', `outbox seq ${seq} does not exist`);
    this.rows--;
    this.bytes -= r.bytes;
    this.rowsByPriority[r.priority]--;
    this.addRemoved(seq);
    return r;
  }

  private addRemoved(seq: number): void {
    const before = this.removedBeforeStmt.get(seq) as { f: number; t: number } | undefined;
    const after = this.removedAtStmt.get(seq + 1) as { f: number; t: number } | undefined;
    if (before !== undefined && before.t >= seq) return; // already inside a range
    if (before !== undefined && before.t === seq - 1) {
      if (after !== undefined) {
        this.removedDeleteStmt.run(after.f);
        this.removedUpdateStmt.run(after.t, before.f);
      } else {
        this.removedUpdateStmt.run(seq, before.f);
      }
    } else if (after !== undefined) {
      this.removedDeleteStmt.run(after.f);
      this.removedInsertStmt.run(seq, after.t);
    } else {
      this.removedInsertStmt.run(seq, seq);
    }
  }

  /** Removed seq ranges not yet acked, as [from, to] inclusive, in order. */
  removedRanges(): [number, number][] {
    return (this.db.prepare('SELECT from_seq AS f, to_seq AS t FROM outbox_removed ORDER BY from_seq').all() as { f: number; t: number }[])
      .map((r) => [r.f, r.t]);
  }

  read(q: ReadOutboxQuery): OutboxRow[] {
    if (!Number.isSafeInteger(q.afterSeq) || !Number.isSafeInteger(q.limit) || q.limit < 1) {
      throw new StateError('E_STATE_ARGUMENT', 'readOutbox: afterSeq and limit must be integers, limit ≥ 1');
    }
    // Acked rows may still be on disk (ack() deletes in bulk): never hand them out.
    const rows = this.readStmt.all(Math.max(q.afterSeq, this.ackedSeq), q.minPriority ?? 2, q.limit) as DbRow[];
    let n = rows.length;
    if (q.maxBytes !== undefined) {
      let bytes = 0;
      for (let i = 0; i < rows.length; i++) {
        if (i > 0 && bytes + rows[i]!.bytes > q.maxBytes) {
          n = i;
          break;
        }
        bytes += rows[i]!.bytes;
      }
    }
    return sharePayloadBuffer(n === rows.length ? rows : rows.slice(0, n));
  }

  /**
   * Rows ≤ uptoSeq are acked (the cloud has them): gone for reads and totals now, deleted from disk
   * in bulk (see the class comment). Acks never go backwards. Call inside a transaction.
   */
  ack(uptoSeq: number): AckResult {
    if (!Number.isSafeInteger(uptoSeq) || uptoSeq >= this.nextSeq) {
      throw new StateError('E_STATE_ARGUMENT', `ackOutbox(${uptoSeq}): only seqs below ${this.nextSeq} were ever issued`);
    }
    if (uptoSeq <= this.ackedSeq) return { deletedRows: 0, deletedBytes: 0 };
    let deletedRows = 0;
    let deletedBytes = 0;
    for (const r of this.ackRowsStmt.all(this.ackedSeq, uptoSeq) as { priority: Priority; n: number; b: number }[]) {
      deletedRows += r.n;
      deletedBytes += r.b;
      this.rowsByPriority[r.priority] -= r.n;
    }
    this.rows -= deletedRows;
    this.bytes -= deletedBytes;
    // Removed ranges at or below the ack are known to the cloud now.
    this.db.prepare('DELETE FROM outbox_removed WHERE to_seq <= ?').run(uptoSeq);
    const straddle = this.removedBeforeStmt.get(uptoSeq) as { f: number; t: number } | undefined;
    if (straddle !== undefined && straddle.t > uptoSeq) {
      this.removedDeleteStmt.run(straddle.f);
      this.removedInsertStmt.run(uptoSeq + 1, straddle.t);
    }
    this.ackedSeq = uptoSeq;
    this.setMeta('outbox_acked_seq', uptoSeq);
    if (uptoSeq - this.trimmedSeq >= TRIM_SPAN || this.rows === 0) this.trim();
    return { deletedRows, deletedBytes };
  }

  /** Deletes the acked rows still on disk. Call inside a transaction. */
  trim(): void {
    if (this.trimmedSeq >= this.ackedSeq) return;
    this.ackDeleteStmt.run(this.ackedSeq);
    this.trimmedSeq = this.ackedSeq;
  }

  oldestCreatedAtMs(): number | null {
    const r = this.db.prepare('SELECT MIN(created_at_ms) AS m FROM outbox WHERE seq > ?').get(this.ackedSeq) as { m: number | null };
    return r.m;
  }
}
