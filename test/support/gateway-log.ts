/**
 * The gateway's durable ingest log, read back after a run (the gateway
 * stopped): every reading as it was made durable, in log order — duplicates
 * included. The stack keeps consumed log records (the base config retains
 * 256 MB / 7 days), so after a short run this is everything ever logged.
 *
 * A test compares it with what the devices sent: each acknowledged message
 * must be there at least once; a message is there at most as many times as
 * it was sent; more than once means a redelivery was logged again.
 */
import { LocalStateStore } from '../../edge-runtime/state/local-store.ts';
import type { RecordedReading } from './seeded-input.ts';

export interface LoggedRun {
  readonly readings: RecordedReading[];
  readonly ticks: number;
  readonly firstOffset: number | null;
}

export async function readGatewayLog(dbPath: string): Promise<LoggedRun> {
  const store = await LocalStateStore.open({ path: dbPath });
  const readings: RecordedReading[] = [];
  let ticks = 0;
  let firstOffset: number | null = null;
  try {
    for await (const seg of store.readFrom(1)) {
      firstOffset ??= seg.firstOffset;
      for (const r of seg.records) {
        if (r.type === 'tick') ticks++;
        else readings.push({ deviceId: r.reading.deviceId, metric: r.reading.metric, value: r.reading.value, ts: r.reading.eventTime, arrival: r.reading.arrivalTime });
      }
    }
  } finally {
    await store.close();
  }
  return { readings, ticks, firstOffset };
}

export const readingId = (r: { deviceId: string; metric: string; ts: number }): string => `${r.deviceId}|${r.metric}|${r.ts}`;

/** How many times each reading is in the log, against how many times its message was sent and whether it was acked. */
export function deliveryAudit(
  logged: readonly RecordedReading[],
  sent: readonly { readings: readonly { deviceId: string; metric: string; ts: number }[]; sends: number; acked: boolean }[],
): { missingAcked: string[]; overSent: string[]; duplicated: string[]; unknown: string[]; loggedTwice: number; messagesLoggedTwice: number } {
  const times = new Map<string, number>();
  for (const r of logged) times.set(readingId(r), (times.get(readingId(r)) ?? 0) + 1);
  const missingAcked: string[] = [];
  const overSent: string[] = [];
  const duplicated: string[] = [];
  const known = new Set<string>();
  let messagesLoggedTwice = 0;
  for (const m of sent) {
    if (m.readings.some((r) => (times.get(readingId(r)) ?? 0) > 1)) messagesLoggedTwice++;
    for (const r of m.readings) {
      const id = readingId(r);
      known.add(id);
      const n = times.get(id) ?? 0;
      if (m.acked && n === 0) missingAcked.push(id);
      if (n > m.sends) overSent.push(`${id} logged ${n}× but sent ${m.sends}×`);
      if (n > 1) duplicated.push(id);
    }
  }
  const unknown = [...times.keys()].filter((id) => !known.has(id));
  let loggedTwice = 0;
  for (const n of times.values()) loggedTwice += Math.max(0, n - 1);
  return { missingAcked, overSent, duplicated, unknown, loggedTwice, messagesLoggedTwice };
}
