import type { StateStore } from '../state/store-types.ts';
import { hasOwnIdentity, type RecentReadings } from './recent-readings.ts';

export interface RebuildReport {
  /** First log offset read (records before it were not looked at). */
  readonly fromOffset: number;
  readonly records: number;
  /** Readings remembered (those with an identity of their own; a reading logged twice before de-duplication existed counts once). */
  readonly readings: number;
  readonly ms: number;
}

/**
 * Refills the table after a restart from the tail of the durable ingest log,
 * in log order, so that a device re-sending what the gateway made durable
 * just before it died is recognised. Runs before any transport accepts a
 * frame (nothing appends meanwhile) and before the runtime starts trimming.
 *
 * Reads the last `capacity` log records: ticks are records too, so this
 * remembers slightly fewer readings than the table holds while running
 * (1 tick a second against the reading rate); the readings lost are the
 * oldest, never those a device may still be re-sending. Quarantined frames
 * are not in the log, so a fixed device may send them again and be accepted.
 */
export async function rememberLogTail(table: RecentReadings, log: Pick<StateStore, 'readFrom' | 'logStats'>): Promise<RebuildReport> {
  const started = performance.now();
  const stats = await log.logStats();
  const from = Math.max(stats.firstOffset, stats.nextOffset - table.capacity);
  let records = 0;
  let readings = 0;
  if (from < stats.nextOffset) {
    for await (const seg of log.readFrom(from)) {
      // The first segment may begin before `from`.
      for (let i = Math.max(0, from - seg.firstOffset); i < seg.records.length; i++) {
        const rec = seg.records[i]!;
        records++;
        if (rec.type !== 'reading' || !hasOwnIdentity(rec.reading)) continue;
        if (table.admit(rec.reading.deviceId, rec.reading.metric, rec.reading.eventTime) >= 0) readings++;
      }
    }
  }
  return { fromOffset: from, records, readings, ms: performance.now() - started };
}
