import type { SqlDatabase, SqlStatement, SqlValue } from './sql-database.ts';
import type { CheckpointInfo, StateKey, StateRow } from './store-types.ts';

/**
 * The checkpoint row, the checkpointed operator state and the spill area.
 *
 * Why spill is a separate table from state: `state` must only ever hold
 * what a checkpoint committed, because recovery loads it and replays the
 * log from the checkpoint's offset. A cold key spilled between two
 * checkpoints carries changes the checkpoint does not cover yet; written
 * into `state`, a crash would make recovery apply those log records twice.
 * So spilled values live in `spill` (working memory that happens to be on
 * disk, emptied at recovery with spillClear), and a checkpoint writes dirty
 * keys — spilled or not — into `state` through stateUpserts.
 */
/** Rows per multi-row upsert statement (3 parameters each; SQLite allows 32,766). */
const UPSERT_CHUNK = 64;

export class CheckpointTable {
  private readonly upsertStmt: SqlStatement;
  private readonly upsertManyStmt: SqlStatement;
  private readonly deleteStmt: SqlStatement;
  private readonly deleteRangeStmt: SqlStatement;
  private readonly deleteLikeStmt: SqlStatement;
  private readonly deleteNsStmt: SqlStatement;
  private readonly setCheckpointStmt: SqlStatement;
  private readonly getCheckpointStmt: SqlStatement;
  private readonly pageAllStmt: SqlStatement;
  private readonly pageNsStmt: SqlStatement;
  private readonly spillPutStmt: SqlStatement;
  private readonly spillGetStmt: SqlStatement;
  private readonly spillDeleteStmt: SqlStatement;

  constructor(private readonly db: SqlDatabase) {
    this.upsertStmt = db.prepare(`INSERT INTO state (ns, key, value) VALUES (?, ?, ?)
                                  ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value`);
    this.upsertManyStmt = db.prepare(`INSERT INTO state (ns, key, value) VALUES ${new Array(UPSERT_CHUNK).fill('(?, ?, ?)').join(', ')}
                                      ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value`);
    this.deleteStmt = db.prepare('DELETE FROM state WHERE ns = ? AND key = ?');
    this.deleteRangeStmt = db.prepare('DELETE FROM state WHERE ns = ? AND key >= ? AND key < ?');
    this.deleteLikeStmt = db.prepare('DELETE FROM state WHERE ns = ? AND substr(key, 1, ?) = ?');
    this.deleteNsStmt = db.prepare('DELETE FROM state WHERE ns = ?');
    this.setCheckpointStmt = db.prepare(`INSERT INTO checkpoint (id, checkpoint_id, consumed_offset, committed_at_ms) VALUES (1, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET checkpoint_id = excluded.checkpoint_id, consumed_offset = excluded.consumed_offset,
                                     committed_at_ms = excluded.committed_at_ms`);
    this.getCheckpointStmt = db.prepare(`SELECT checkpoint_id AS checkpointId, consumed_offset AS consumedOffset,
                                                committed_at_ms AS committedAtMs FROM checkpoint WHERE id = 1`);
    this.pageAllStmt = db.prepare('SELECT ns, key, value FROM state WHERE (ns, key) > (?, ?) ORDER BY ns, key LIMIT ?');
    this.pageNsStmt = db.prepare('SELECT ns, key, value FROM state WHERE ns = ? AND key > ? ORDER BY key LIMIT ?');
    this.spillPutStmt = db.prepare(`INSERT INTO spill (ns, key, value) VALUES (?, ?, ?)
                                    ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value`);
    this.spillGetStmt = db.prepare('SELECT value FROM spill WHERE ns = ? AND key = ?');
    this.spillDeleteStmt = db.prepare('DELETE FROM spill WHERE ns = ? AND key = ?');
  }

  /**
   * Writes the state changes. Keys are written in sorted order (B-tree
   * inserts in key order touch each leaf page once: about twice as fast as
   * random order for 10,000 keys), UPSERT_CHUNK rows per statement (fewer
   * calls across the binding). A key both upserted and deleted ends deleted.
   * Call inside a transaction.
   */
  writeState(upserts: readonly StateRow[], deletes: readonly StateKey[], prefixes: readonly StateKey[] = []): void {
    for (const p of prefixes) this.deletePrefix(p);
    const sorted = isSorted(upserts) ? upserts : [...upserts].sort(compareKeys);
    const params: SqlValue[] = new Array(UPSERT_CHUNK * 3);
    let i = 0;
    for (; i + UPSERT_CHUNK <= sorted.length; i += UPSERT_CHUNK) {
      for (let j = 0; j < UPSERT_CHUNK; j++) {
        const r = sorted[i + j]!;
        params[3 * j] = r.ns;
        params[3 * j + 1] = r.key;
        params[3 * j + 2] = r.value;
      }
      this.upsertManyStmt.run(...params);
    }
    for (; i < sorted.length; i++) this.upsertStmt.run(sorted[i]!.ns, sorted[i]!.key, sorted[i]!.value);
    for (const d of deletes) this.deleteStmt.run(d.ns, d.key);
  }

  /** Deletes the rows of ns whose key starts with prefix, through the primary-key index. */
  private deletePrefix(p: StateKey): void {
    if (p.key === '') {
      this.deleteNsStmt.run(p.ns);
      return;
    }
    const last = p.key.charCodeAt(p.key.length - 1);
    if (last < 0x7f) {
      // TEXT compares bytewise (UTF-8): every key starting with `prefix` sorts in [prefix, prefix with its last ASCII char + 1).
      this.deleteRangeStmt.run(p.ns, p.key, p.key.slice(0, -1) + String.fromCharCode(last + 1));
    } else {
      this.deleteLikeStmt.run(p.ns, p.key.length, p.key);
    }
  }

  setCheckpoint(checkpointId: number, consumedOffset: number, nowMs: number): void {
    this.setCheckpointStmt.run(checkpointId, consumedOffset, Math.trunc(nowMs));
  }

  load(): CheckpointInfo | null {
    return (this.getCheckpointStmt.get() as CheckpointInfo | undefined) ?? null;
  }

  /** One page of state rows after `after` (exclusive), ordered by (ns, key). */
  statePage(ns: string | undefined, after: StateKey | null, limit: number): StateRow[] {
    if (ns !== undefined) {
      return this.pageNsStmt.all(ns, after === null ? '' : after.key, limit) as StateRow[];
    }
    if (after === null) return this.db.prepare('SELECT ns, key, value FROM state ORDER BY ns, key LIMIT ?').all(limit) as StateRow[];
    return this.pageAllStmt.all(after.ns, after.key, limit) as StateRow[];
  }

  spillPut(ns: string, entries: readonly { key: string; value: Uint8Array }[]): void {
    for (const e of entries) this.spillPutStmt.run(ns, e.key, e.value);
  }

  spillGet(ns: string, keys: readonly string[]): (Uint8Array | null)[] {
    return keys.map((k) => (this.spillGetStmt.get(ns, k) as { value: Uint8Array } | undefined)?.value ?? null);
  }

  spillDelete(ns: string, keys: readonly string[]): number {
    let n = 0;
    for (const k of keys) n += this.spillDeleteStmt.run(ns, k).changes;
    return n;
  }

  spillClear(ns?: string): number {
    return ns === undefined
      ? this.db.prepare('DELETE FROM spill').run().changes
      : this.db.prepare('DELETE FROM spill WHERE ns = ?').run(ns).changes;
  }
}

function compareKeys(a: StateKey, b: StateKey): number {
  if (a.ns !== b.ns) return a.ns < b.ns ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function isSorted(rows: readonly StateKey[]): boolean {
  for (let i = 1; i < rows.length; i++) if (compareKeys(rows[i - 1]!, rows[i]!) > 0) return false;
  return true;
}
