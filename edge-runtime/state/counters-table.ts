import type { SqlDatabase, SqlStatement } from './sql-database.ts';

/** Persisted monotonic counters by name (`outbox.dropped.p2`, `quarantine.reason.E_DECODE`, ...). */
export class CountersTable {
  private readonly addStmt: SqlStatement;
  private readonly getStmt: SqlStatement;
  private readonly prefixStmt: SqlStatement;

  constructor(db: SqlDatabase) {
    this.addStmt = db.prepare(`INSERT INTO counters (name, value) VALUES (?, ?)
                               ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`);
    this.getStmt = db.prepare('SELECT value FROM counters WHERE name = ?');
    this.prefixStmt = db.prepare('SELECT name, value FROM counters WHERE name >= ? AND name < ? ORDER BY name');
  }

  /** Call inside the transaction that does what is being counted. */
  add(name: string, delta: number): void {
    if (delta !== 0) this.addStmt.run(name, delta);
  }

  get(name: string): number {
    const row = this.getStmt.get(name) as { value: number } | undefined;
    return row === undefined ? 0 : row.value;
  }

  /** All counters whose name starts with `prefix`, keyed by the rest of the name. */
  byPrefix(prefix: string): Record<string, number> {
    const out: Record<string, number> = {};
    // '\u{10FFFF}' sorts after every other character in SQLite's binary collation.
    for (const row of this.prefixStmt.all(prefix, prefix + '\u{10FFFF}') as { name: string; value: number }[]) {
      out[row.name.slice(prefix.length)] = row.value;
    }
    return out;
  }
}
