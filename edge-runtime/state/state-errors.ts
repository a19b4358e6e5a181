/**
 * Errors of the storage module. Callers switch on `code`, never on message
 * text (STYLE habit 8). These codes are local to state/ because the shared
 * `WeirErrorCode` union is closed; the lead may fold them into errors.ts.
 */
export type StateErrorCode =
  | 'E_STATE_SCHEMA_NEWER' // the file was written by a newer schema than this build knows; refused, left untouched
  | 'E_STATE_CORRUPT'      // the file failed to open or failed PRAGMA quick_check; it was moved aside
  | 'E_DISK_FULL'          // SQLITE_FULL: the write was rolled back, committed data is intact
  | 'E_STATE_IO'           // any other SQLite or file-system failure
  | 'E_STATE_ARGUMENT'     // a call broke the store's contract (offset going backwards, unknown seq, ...)
  | 'E_STATE_CLOSED'       // the store was used after close()
  | 'E_STATE_WORKER'       // the storage worker thread died or could not start
  | 'E_LOG_TRIMMED'        // readFrom() asked for offsets that retention already deleted
  | 'E_LOG_BACKPRESSURE';  // GroupCommitLog.append() while not writable: await drained() first

export class StateError extends Error {
  readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'StateError';
  }
}

export function isStateError(e: unknown): e is StateError {
  return e instanceof StateError;
}

/** SQLite result codes (primary or extended) that mean "this file is damaged". */
const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

function sqliteCode(e: unknown): string | null {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const code = (e as { code: string }).code;
    return code.startsWith('SQLITE_') ? code : null;
  }
  return null;
}

export function isCorruptionError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== null && CORRUPT_CODES.has(code);
}

/**
 * Maps an error thrown by the binding to a StateError with a stable code,
 * using SQLite's result code only: `SQLITE_FULL` → E_DISK_FULL (SQLite maps
 * ENOSPC on write to SQLITE_FULL), corruption codes → E_STATE_CORRUPT.
 */
export function toStateError(e: unknown, op: string): StateError {
  if (e instanceof StateError) return e;
  const code = sqliteCode(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (code === 'SQLITE_FULL') {
    return new StateError('E_DISK_FULL', `${op}: disk full (SQLITE_FULL); the write was rolled back`, { cause: e });
  }
  if (code !== null && CORRUPT_CODES.has(code)) {
    return new StateError('E_STATE_CORRUPT', `${op}: database is damaged (${code}): ${detail}`, { cause: e });
  }
  return new StateError('E_STATE_IO', `${op}: ${code ?? 'error'}: ${detail}`, { cause: e });
}

/** Plain-data form of an error, for crossing the worker boundary. */
export interface SerializedStateError {
  readonly code: StateErrorCode;
  readonly message: string;
}

export function serializeError(e: unknown, op: string): SerializedStateError {
  const se = toStateError(e, op);
  return { code: se.code, message: se.message };
}

export function deserializeError(s: SerializedStateError): StateError {
  return new StateError(s.code, s.message);
}
