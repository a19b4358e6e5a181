import { WireError } from '../protocol.ts';
import type { IngestBatch, IngestRecord } from './storage-types.ts';

/**
 * The sequencing decision for one batch, given what the gateway's row says
 * (read under its lock). Pure, shared by both backends, so they cannot
 * disagree on the rules (protocol.ts, top of file):
 *
 * - ordered lane, firstSeq > contiguous + 1: E_SEQ_GAP, nothing stored.
 * - records with seq ≤ contiguous are duplicates; the rest are inserted
 *   with "on conflict do nothing" (a live-lane copy may be there already:
 *   counted as a duplicate too).
 * - skipped ranges are clipped to seqs above contiguous and become tombstones.
 * - after an ordered batch every seq ≤ lastSeq is stored or tombstoned, so
 *   contiguous becomes at least lastSeq; then it walks over records already
 *   stored beyond (live-lane rows) while they are consecutive.
 */
export interface IngestPlan {
  readonly insert: readonly IngestRecord[];
  readonly duplicatesBelow: number;
  readonly skips: readonly (readonly [number, number])[];
  readonly tombstoned: number;
  /** contiguousSeq before walking over stored seqs beyond it. */
  readonly floor: number;
  /** Highest seq this batch could add (records only: tombstones never raise highestSeq). */
  readonly highestCandidate: number;
}

export function planIngest(batch: IngestBatch, contiguous: number): IngestPlan {
  if (batch.lane === 'ordered' && batch.firstSeq > contiguous + 1) {
    throw new WireError('E_SEQ_GAP', `batch starts at seq ${batch.firstSeq}, but the cloud holds every seq only up to ${contiguous}: ` +
      `send from ${contiguous + 1} (declare seqs you no longer have as skipped)`, { contiguousSeq: contiguous });
  }
  const insert = batch.records.filter((r) => r.seq > contiguous);
  const skips: [number, number][] = [];
  let tombstoned = 0;
  for (const [from, to] of batch.skipped) {
    if (to <= contiguous) continue;
    const f = Math.max(from, contiguous + 1);
    skips.push([f, to]);
    tombstoned += to - f + 1;
  }
  const last = batch.records[batch.records.length - 1];
  return {
    insert,
    duplicatesBelow: batch.records.length - insert.length,
    skips,
    tombstoned,
    floor: batch.lane === 'ordered' ? Math.max(contiguous, batch.lastSeq) : contiguous,
    highestCandidate: last === undefined ? 0 : last.seq,
  };
}

/** Walks `floor` up over `storedAbove` (ascending seqs > floor) while they are consecutive. Returns the new value and whether the page was used up. */
export function walkContiguous(floor: number, storedAbove: readonly number[]): { contiguous: number; exhausted: boolean } {
  let c = floor;
  for (const s of storedAbove) {
    if (s !== c + 1) return { contiguous: c, exhausted: false };
    c = s;
  }
  return { contiguous: c, exhausted: true };
}

/** Page size for walkContiguous queries. */
export const WALK_PAGE = 1000;
