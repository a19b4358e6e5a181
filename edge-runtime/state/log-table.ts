import type { SqlDatabase, SqlStatement } from './sql-database.ts';
import { getMeta, prepareSetMeta } from './schema.ts';
import { StateError } from './state-errors.ts';
import type { AppendResult, LogStats, RawSegment, TrimLogResult } from './store-types.ts';

/**
 * The ingest log: one row per segment. Offsets are strictly increasing and
 * never reused: the next offset is kept in meta (`log_next_offset`), written
 * in the same transaction as every append, so neither trimming the log to
 * empty nor a restart can hand out an offset twice.
 *
 * Running totals (rows, records, bytes) are kept in memory, changed inside
 * the caller's transaction; the store calls reload() when a transaction fails.
 */
export class LogTable {
  private nextOffset = 1;
  private segments = 0;
  private records = 0;
  private bytes = 0;

  private readonly insertStmt: SqlStatement;
  private readonly setMeta: (key: string, value: number) => void;
  private readonly startStmt: SqlStatement;
  private readonly pageStmt: SqlStatement;
  private readonly oldestStmt: SqlStatement;
  private readonly deleteStmt: SqlStatement;

  constructor(private readonly db: SqlDatabase) {
    this.insertStmt = db.prepare('INSERT INTO log (first_offset, count, bytes, created_at_ms, payload) VALUES (?, ?, ?, ?, ?)');
    this.setMeta = prepareSetMeta(db);
    this.startStmt = db.prepare('SELECT MAX(first_offset) AS f FROM log WHERE first_offset <= ?');
    this.pageStmt = db.prepare(`SELECT first_offset AS firstOffset, count, created_at_ms AS createdAtMs, payload
                                FROM log WHERE first_offset >= ? ORDER BY first_offset LIMIT ?`);
    this.oldestStmt = db.prepare(`SELECT first_offset AS firstOffset, count, bytes, created_at_ms AS createdAtMs
                                  FROM log ORDER BY first_offset LIMIT ?`);
    this.deleteStmt = db.prepare('DELETE FROM log WHERE first_offset = ?');
    this.reload();
  }

  reload(): void {
    const t = this.db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(count), 0) AS r, COALESCE(SUM(bytes), 0) AS b,
                                      COALESCE(MAX(first_offset + count), 1) AS next FROM log`).get() as
      { n: number; r: number; b: number; next: number };
    this.segments = t.n;
    this.records = t.r;
    this.bytes = t.b;
    this.nextOffset = Math.max(t.next, getMeta(this.db, 'log_next_offset') ?? 1);
  }

  /** Call inside a transaction. Returns the offsets given to the segment's records. */
  append(payload: Uint8Array, count: number, createdAtMs: number): AppendResult {
    const first = this.nextOffset;
    if (count === 0) return { firstOffset: first, lastOffset: first - 1 };
    this.insertStmt.run(first, count, payload.byteLength, Math.trunc(createdAtMs), payload);
    this.setMeta('log_next_offset', first + count);
    this.nextOffset = first + count;
    this.segments++;
    this.records += count;
    this.bytes += payload.byteLength;
    return { firstOffset: first, lastOffset: first + count - 1 };
  }

  get next(): number {
    return this.nextOffset;
  }

  /** Lowest readable offset; nextOffset when the log is empty. */
  lowWater(): number {
    const row = this.oldestStmt.get(1) as { firstOffset: number } | undefined;
    return row === undefined ? this.nextOffset : row.firstOffset;
  }

  /**
   * Up to `limit` segments holding offsets ≥ `offset`, in order. The first
   * may start before `offset` (the caller slices it).
   */
  readRaw(offset: number, limit: number): RawSegment[] {
    if (!Number.isSafeInteger(offset) || offset < 1) {
      throw new StateError('E_STATE_ARGUMENT', `readFrom: offset must be an integer ≥ 1, got ${offset}`);
    }
    const low = this.lowWater();
    if (offset < low) {
      throw new StateError('E_LOG_TRIMMED', `readFrom(${offset}): offsets below ${low} were trimmed by retention`);
    }
    const start = (this.startStmt.get(offset) as { f: number | null }).f ?? offset;
    const rows = this.pageStmt.all(start, limit) as { firstOffset: number; count: number; createdAtMs: number; payload: Uint8Array }[];
    // The segment found by `start` may end before `offset` (offset in a gap past the end): skip it.
    return rows.filter((r) => r.firstOffset + r.count > offset);
  }

  /**
   * Deletes whole segments that are fully consumed (last offset ≤
   * consumedOffset), oldest first, while the log is over maxBytes or the
   * segment is older than maxAgeMs. Call inside a transaction.
   */
  trim(consumedOffset: number, maxBytes: number, maxAgeMs: number, nowMs: number): TrimLogResult {
    let deletedSegments = 0;
    let deletedRecords = 0;
    let deletedBytes = 0;
    const cutoff = nowMs - maxAgeMs;
    this.setMeta('log_next_offset', this.nextOffset);
    for (;;) {
      const page = this.oldestStmt.all(256) as { firstOffset: number; count: number; bytes: number; createdAtMs: number }[];
      let stop = page.length === 0;
      for (const s of page) {
        const consumed = s.firstOffset + s.count - 1 <= consumedOffset;
        const wanted = this.bytes > maxBytes || s.createdAtMs < cutoff;
        if (!consumed || !wanted) {
          stop = true;
          break;
        }
        this.deleteStmt.run(s.firstOffset);
        this.segments--;
        this.records -= s.count;
        this.bytes -= s.bytes;
        deletedSegments++;
        deletedRecords += s.count;
        deletedBytes += s.bytes;
      }
      if (stop) break;
    }
    const unconsumedBytes = this.unconsumedBytes(consumedOffset);
    return {
      deletedSegments, deletedRecords, deletedBytes, consumedOffset,
      pressure: unconsumedBytes > maxBytes, unconsumedBytes,
    };
  }

  private unconsumedBytes(consumedOffset: number): number {
    const row = this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS b FROM log WHERE first_offset + count - 1 > ?').get(consumedOffset) as { b: number };
    return row.b;
  }

  stats(): LogStats {
    const oldest = this.oldestStmt.get(1) as { firstOffset: number; createdAtMs: number } | undefined;
    return {
      segments: this.segments,
      records: this.records,
      bytes: this.bytes,
      nextOffset: this.nextOffset,
      firstOffset: oldest === undefined ? this.nextOffset : oldest.firstOffset,
      oldestCreatedAtMs: oldest === undefined ? null : oldest.createdAtMs,
    };
  }
}
