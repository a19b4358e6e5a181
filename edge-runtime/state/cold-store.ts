import { Encoder } from 'cbor-x';
import type { ColdStore } from '../engine/keyed-state.ts';
import type { SqlDatabase, SqlStatement } from './sql-database.ts';
import { openScratchDatabase } from './sqlite-store.ts';

const cbor = new Encoder({ useRecords: false });
const PAGE = 1024;

/**
 * Keys are stored as UTF-16BE blobs: SQLite compares blobs bytewise, which for
 * UTF-16BE is exactly JavaScript's string order (code unit by code unit), so
 * a prefix scan comes back in the order the operators merge by.
 */
function enc(key: string): Uint8Array {
  const b = Buffer.from(key, 'utf16le');
  b.swap16();
  return b;
}

function dec(b: Uint8Array): string {
  const c = Buffer.from(b);
  c.swap16();
  return c.toString('utf16le');
}

/** The smallest blob greater than every blob starting with `b`, or null if there is none. */
function after(b: Uint8Array): Uint8Array | null {
  const c = Uint8Array.from(b);
  for (let i = c.length - 1; i >= 0; i--) {
    if (c[i]! < 0xff) {
      c[i]!++;
      return c.subarray(0, i + 1);
    }
  }
  return null;
}

/**
 * The spill of bounded-memory operators: a scratch SQLite file (recreated at
 * open, no journal, no fsync), one namespace per operator. Synchronous, as
 * operators are: a point lookup costs a few microseconds.
 */
export class SqliteColdStores {
  private readonly db: SqlDatabase & { close(): void };
  private readonly stmts: Record<'get' | 'put' | 'del' | 'delRange' | 'delFrom' | 'scanFrom' | 'scanAfter' | 'count' | 'clear', SqlStatement>;

  constructor(path: string) {
    this.db = openScratchDatabase(path);
    this.db.exec('CREATE TABLE spill (ns TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID');
    this.stmts = {
      get: this.db.prepare('SELECT value FROM spill WHERE ns = ? AND key = ?'),
      put: this.db.prepare('INSERT INTO spill (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value'),
      del: this.db.prepare('DELETE FROM spill WHERE ns = ? AND key = ?'),
      delRange: this.db.prepare('DELETE FROM spill WHERE ns = ? AND key >= ? AND key < ?'),
      delFrom: this.db.prepare('DELETE FROM spill WHERE ns = ? AND key >= ?'),
      scanFrom: this.db.prepare('SELECT key, value FROM spill WHERE ns = ? AND key >= ? ORDER BY key LIMIT ?'),
      scanAfter: this.db.prepare('SELECT key, value FROM spill WHERE ns = ? AND key > ? ORDER BY key LIMIT ?'),
      count: this.db.prepare('SELECT count(*) AS n FROM spill WHERE ns = ?'),
      clear: this.db.prepare('DELETE FROM spill'),
    };
  }

  /** The cold store of one operator. */
  forNamespace(ns: string): ColdStore {
    const s = this.stmts;
    const putMany = this.db.transaction((entries: readonly (readonly [string, unknown])[]) => {
      for (const [k, v] of entries) s.put.run(ns, enc(k), cbor.encode(v));
    });
    const delMany = this.db.transaction((keys: readonly string[]) => {
      for (const k of keys) s.del.run(ns, enc(k));
    });
    return {
      get: (key) => {
        const r = s.get.get(ns, enc(key)) as { value: Uint8Array } | undefined;
        return r === undefined ? undefined : cbor.decode(r.value);
      },
      put: (entries) => {
        if (entries.length > 0) putMany(entries);
      },
      delete: (keys) => {
        if (keys.length > 0) delMany(keys);
      },
      deletePrefix: (prefix) => {
        const lo = enc(prefix);
        const hi = after(lo);
        if (hi === null) s.delFrom.run(ns, lo);
        else s.delRange.run(ns, lo, hi);
      },
      scanPrefix: (prefix) => ({
        *[Symbol.iterator]() {
          // Paged, so no statement stays open while the caller reads or writes elsewhere.
          const lo = enc(prefix);
          let rows = s.scanFrom.all(ns, lo, PAGE) as { key: Uint8Array; value: Uint8Array }[];
          for (;;) {
            for (const r of rows) {
              if (!startsWith(r.key, lo)) return;
              yield [dec(r.key), cbor.decode(r.value)] as const;
            }
            if (rows.length < PAGE) return;
            rows = s.scanAfter.all(ns, rows[rows.length - 1]!.key, PAGE) as { key: Uint8Array; value: Uint8Array }[];
          }
        },
      }),
      size: () => (s.count.get(ns) as { n: number }).n,
    };
  }

  clear(): void {
    this.stmts.clear.run();
  }

  close(): void {
    this.db.close();
  }
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}
