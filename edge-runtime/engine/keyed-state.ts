/**
 * Keyed operator state, for checkpoints that write only what changed and for
 * bounded memory. Operators stay pure: they see a `ColdStore` (synchronous,
 * plain values) that the runtime backs with SQLite; tests back it with a Map.
 */

/** Rows an operator evicted from memory. Values are plain data; the store encodes them. */
export interface ColdStore {
  get(key: string): unknown;
  put(entries: readonly (readonly [string, unknown])[]): void;
  delete(keys: readonly string[]): void;
  deletePrefix(prefix: string): void;
  /** Rows whose key starts with `prefix`, in ascending key order (UTF-16 code unit order, like JS `<`). */
  scanPrefix(prefix: string): Iterable<readonly [string, unknown]>;
  /** Number of rows held (for metrics). */
  size(): number;
}

/** What changed since the last drain: rows to write, rows to delete, key prefixes to delete. */
export interface StateDelta {
  readonly upserts: (readonly [string, unknown])[];
  readonly deletes: string[];
  readonly deletePrefixes: string[];
}

export type DeltaVisitor = (key: string, value: unknown) => void;

export interface KeyedStateOperator {
  /**
   * Rows changed since the last call; the operator forgets them as dirty. With `visit`, each
   * upsert is handed to it as it is produced (and `upserts` comes back empty), so a checkpoint of
   * many rows never holds them all as objects at once — the caller encodes each row and lets it go.
   */
  drainDelta(visit?: DeltaVisitor): StateDelta;
  /**
   * About how many rows the next drainDelta would hand out (an upper bound, O(1)). The runtime
   * checkpoints early when this grows large, so a checkpoint's size stays bounded under key churn.
   */
  deltaSize(): number;
  /** Clears all state before `restoreRow` calls (a restore starts from nothing). */
  beginRestore(): void;
  restoreRow(key: string, value: unknown): void;
  /** Bytes of state held in memory (approximate, O(1)). */
  memoryBytes(): number;
  /** Moves cold rows to the cold store until at least `bytes` were freed; returns the bytes freed. */
  evict(bytes: number): number;
  /** Rows in the cold store. */
  spilledRows(): number;
  /** Readings refused because the key was new while over budget (refuse-new-keys policy). */
  refusedReadings(): number;
}

export function isKeyedState(x: unknown): x is KeyedStateOperator {
  return typeof (x as KeyedStateOperator | null)?.drainDelta === 'function';
}

/** A ColdStore in a sorted in-memory Map: for tests, and as the spill of tools that have no disk. */
export class MemoryColdStore implements ColdStore {
  private readonly rows = new Map<string, unknown>();
  get(key: string): unknown {
    return this.rows.get(key);
  }
  put(entries: readonly (readonly [string, unknown])[]): void {
    for (const [k, v] of entries) this.rows.set(k, structuredClone(v));
  }
  delete(keys: readonly string[]): void {
    for (const k of keys) this.rows.delete(k);
  }
  deletePrefix(prefix: string): void {
    for (const k of [...this.rows.keys()]) if (k.startsWith(prefix)) this.rows.delete(k);
  }
  *scanPrefix(prefix: string): Iterable<readonly [string, unknown]> {
    const keys = [...this.rows.keys()].filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const k of keys) yield [k, structuredClone(this.rows.get(k))];
  }
  size(): number {
    return this.rows.size;
  }
}
