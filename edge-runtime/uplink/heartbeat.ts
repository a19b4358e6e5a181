import { WIRE_VERSION, type HeartbeatBody } from '../../cloud-sync/protocol.ts';
import type { OutboxStats } from '../state/store-types.ts';
import { VERSION } from '../version.ts';
import type { UplinkStats } from './uplink-types.ts';

/** The heartbeat: the outbox's own figures, its cumulative drops, the uplink's counters, versions. Pure. */
export function heartbeatBody(gatewayId: string, nowMs: number, st: OutboxStats, s: UplinkStats, watermarkLagMs: number | null): HeartbeatBody {
  return {
    v: WIRE_VERSION,
    gatewayId,
    sentAtMs: nowMs,
    outbox: {
      rows: st.rows, bytes: st.bytes, rowsByPriority: st.rowsByPriority, oldestUnsentAgeMs: st.oldestUnsentAgeMs,
      nextSeq: st.nextSeq, ackedSeq: st.ackedSeq, overQuota: st.overQuota,
    },
    drops: st.degradeTotals,
    watermarkLagMs,
    versions: { weir: VERSION, wire: WIRE_VERSION, node: process.version },
    counters: {
      batches: s.batches, liveBatches: s.liveBatches, records: s.records, wireBytes: s.wireBytes, duplicates: s.duplicates,
      failures: s.failures, gapRewinds: s.gapRewinds, snapshots: s.snapshots,
    },
  };
}
