/**
 * The part of a synchronous SQLite binding the table modules use. It is
 * shaped after better-sqlite3 (which satisfies it structurally) and after
 * node:sqlite's DatabaseSync closely enough that swapping the binding means
 * changing sqlite-store.ts only: the table modules never import a binding.
 */
export type SqlValue = number | bigint | string | Uint8Array | null;

export interface SqlRunResult {
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

export interface SqlStatement {
  run(...params: SqlValue[]): SqlRunResult;
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
  exec(sql: string): unknown;
  /** Wraps `fn` in BEGIN … COMMIT; on a throw the transaction is rolled back and the error rethrown. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
}
