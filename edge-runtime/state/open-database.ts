import fs from 'node:fs';
import path from 'node:path';
import { StateError, isCorruptionError, toStateError } from './state-errors.ts';
import type { StoreEvent } from './store-types.ts';

/**
 * Opening with damage handling, independent of the binding: `connect`
 * opens and configures a connection and runs PRAGMA quick_check. A file
 * that SQLite calls damaged (SQLITE_CORRUPT, SQLITE_NOTADB) or that fails
 * quick_check is renamed aside together with its -wal and -shm —
 * `<file>.corrupt-<ms>`, `<file>.corrupt-<ms>-wal`, … so the copy still opens
 * with its WAL for forensics — never deleted, and a fresh file is created.
 * Other failures (permissions, a directory in the way) are not damage: they
 * throw E_STATE_IO and nothing is moved.
 *
 * Closing a connection can make SQLite checkpoint and delete the -wal, so a
 * non-empty -wal is first kept under a second name (hard link, or a copy
 * where links are not supported) until the open has succeeded; if the file
 * turns out damaged, that copy is what goes aside as `…corrupt-<ms>-wal`.
 */
export class QuickCheckFailed extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`PRAGMA quick_check failed: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (+${problems.length - 3} more)` : ''}`);
    this.name = 'QuickCheckFailed';
  }
}

export interface Closable {
  close(): unknown;
}

export function openWithRecovery<D extends Closable>(
  file: string,
  connect: (file: string) => D,
  nowMs: number,
): { db: D; events: StoreEvent[] } {
  const memory = file === ':memory:';
  if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const walKeep = memory ? null : keepWal(file, nowMs);
  try {
    const db = connect(file);
    if (walKeep !== null) fs.rmSync(walKeep, { force: true });
    return { db, events: [] };
  } catch (e) {
    if (memory || !(e instanceof QuickCheckFailed || isCorruptionError(e))) {
      if (walKeep !== null) fs.rmSync(walKeep, { force: true });
      throw toStateError(e, `open ${file}`);
    }
    const movedTo = moveAside(file, nowMs, walKeep);
    const why = e instanceof Error ? e.message : String(e);
    const event: StoreEvent = {
      code: 'E_STATE_CORRUPT',
      message: `state database ${file} is damaged (${why}); moved aside to ${movedTo.join(', ')} and started with a fresh database`,
      movedTo,
    };
    try {
      return { db: connect(file), events: [event] };
    } catch (e2) {
      throw toStateError(e2, `open fresh ${file} after moving the damaged one aside`);
    }
  }
}

/** A second name for a non-empty -wal (null when there is none). */
function keepWal(file: string, nowMs: number): string | null {
  const wal = `${file}-wal`;
  let size = 0;
  try {
    size = fs.statSync(wal).size;
  } catch {
    return null;
  }
  if (size === 0) return null;
  const keep = `${file}.wal-at-open-${nowMs}`;
  try {
    fs.linkSync(wal, keep);
  } catch {
    fs.copyFileSync(wal, keep);
  }
  return keep;
}

function rename(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    throw new StateError('E_STATE_IO', `could not move damaged ${from} aside to ${to}`, { cause: e });
  }
}

/**
 * Renames the database and its -wal/-shm aside; returns the new names. The
 * -wal aside is the one kept at open (`walKeep`) when there was one; a -wal
 * SQLite rewrote since then is kept too, as `…-wal-after-open`.
 */
export function moveAside(file: string, nowMs: number, walKeep: string | null = null): string[] {
  const base = `${file}.corrupt-${nowMs}`;
  const moved: string[] = [];
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const from = file + suffix;
    if (suffix === '-wal' && walKeep !== null) {
      rename(walKeep, base + suffix);
      moved.push(base + suffix);
      if (fs.existsSync(from)) {
        const same = fs.statSync(from).ino === fs.statSync(base + suffix).ino;
        if (same) fs.unlinkSync(from); // a second name of the file just moved: no data goes away
        else {
          rename(from, `${base}-wal-after-open`);
          moved.push(`${base}-wal-after-open`);
        }
      }
      continue;
    }
    if (!fs.existsSync(from)) continue;
    rename(from, base + suffix);
    moved.push(base + suffix);
  }
  return moved;
}
