import type { SqlDatabase, SqlStatement } from './sql-database.ts';
import type { CountersTable } from './counters-table.ts';
import type { QuarantineInput, QuarantineRow, QuarantineStats } from './store-types.ts';

const ROW_OVERHEAD = 48;

/**
 * Rejected payloads, bounded in rows and bytes: when an insert takes the
 * table past either bound, the oldest rows are deleted and counted
 * (`quarantine.trimmed`). Every insert is counted in total and per reason
 * (`quarantine.reason.<code>`), in the same transaction.
 */
export class QuarantineTable {
  private rows = 0;
  private bytes = 0;
  private readonly insertStmt: SqlStatement;
  private readonly oldestStmt: SqlStatement;
  private readonly deleteStmt: SqlStatement;
  private readonly readStmt: SqlStatement;

  constructor(
    private readonly db: SqlDatabase,
    private readonly counters: CountersTable,
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {
    this.insertStmt = db.prepare(`INSERT INTO quarantine (arrival_ms, source, topic_or_uri, device_id, reason_code, detail, raw, bytes)
                                  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.oldestStmt = db.prepare('SELECT id, bytes FROM quarantine ORDER BY id LIMIT 256');
    this.deleteStmt = db.prepare('DELETE FROM quarantine WHERE id = ?');
    this.readStmt = db.prepare(`SELECT id, arrival_ms AS arrivalMs, source, topic_or_uri AS topicOrUri, device_id AS deviceId,
                                       reason_code AS reasonCode, detail, raw FROM quarantine WHERE id > ? ORDER BY id LIMIT ?`);
    this.reload();
  }

  reload(): void {
    const t = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM quarantine').get() as { n: number; b: number };
    this.rows = t.n;
    this.bytes = t.b;
  }

  /** Call inside a transaction. */
  insert(entries: readonly QuarantineInput[]): number[] {
    const ids: number[] = [];
    for (const e of entries) {
      const bytes = e.raw.byteLength + Buffer.byteLength(e.detail) + Buffer.byteLength(e.topicOrUri) + ROW_OVERHEAD;
      const r = this.insertStmt.run(Math.trunc(e.arrivalMs), e.source, e.topicOrUri, e.deviceId ?? null, e.reasonCode, e.detail, e.raw, bytes);
      ids.push(Number(r.lastInsertRowid));
      this.rows++;
      this.bytes += bytes;
      this.counters.add('quarantine.total', 1);
      this.counters.add(`quarantine.reason.${e.reasonCode}`, 1);
    }
    this.trim();
    return ids;
  }

  private trim(): void {
    let trimmed = 0;
    while (this.rows > this.maxRows || this.bytes > this.maxBytes) {
      const page = this.oldestStmt.all() as { id: number; bytes: number }[];
      if (page.length === 0) break;
      for (const r of page) {
        if (this.rows <= this.maxRows && this.bytes <= this.maxBytes) break;
        this.deleteStmt.run(r.id);
        this.rows--;
        this.bytes -= r.bytes;
        trimmed++;
      }
    }
    this.counters.add('quarantine.trimmed', trimmed);
  }

  read(afterId: number, limit: number): QuarantineRow[] {
    return this.readStmt.all(afterId, limit) as QuarantineRow[];
  }

  stats(): QuarantineStats {
    return {
      rows: this.rows,
      bytes: this.bytes,
      total: this.counters.get('quarantine.total'),
      trimmed: this.counters.get('quarantine.trimmed'),
      byReason: this.counters.byPrefix('quarantine.reason.'),
    };
  }
}
