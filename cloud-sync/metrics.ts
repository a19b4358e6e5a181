import { ERROR_STATUS, type Lane, type WireErrorCode } from './protocol.ts';
import { counter, gauge, type MetricFamily, type Sample } from './metrics-text.ts';
import type { GatewayRow, IngestResult } from './storage/storage-types.ts';

/**
 * What cloud-sync reports on GET /metrics. Names follow Prometheus
 * conventions (`weircloud_` prefix, `_total` for counters, base units:
 * seconds, bytes), as the gateway's do (`weir_`, gateway-metrics.ts).
 *
 * Two sources:
 * - counters of what this process did, kept in memory (CloudMetrics): they
 *   start at 0 when the process starts, which Prometheus' rate() expects;
 *   with several instances behind a load balancer, sum over instances.
 * - per-gateway sequencing and backlog figures, read from storage at scrape
 *   time (gatewayFamilies), so every instance reports the same values.
 *
 * Cardinality is bounded by construction: `route` is one of the fixed route
 * names, `code` one of the wire's error codes, `kind` one of RECORD_KINDS or
 * `other` (a gateway may send any kind name; each would be a new series),
 * `lane` ordered|live, and `gateway` one series per registered gateway.
 */

/** Record kinds reported by name; any other kind is counted as `other`. */
export const RECORD_KINDS = ['window', 'anomaly', 'late', 'degrade'] as const;
type KindLabel = (typeof RECORD_KINDS)[number] | 'other';

/** Route label of a request no route matched (kept as one series, whatever the path). */
export const UNMATCHED_ROUTE = 'unmatched';

const WIRE_CODES = Object.keys(ERROR_STATUS) as WireErrorCode[];

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

export class CloudMetrics {
  /** `${route} ${class}` → count. */
  private readonly requests = new Map<string, number>();
  private readonly rejected = new Map<WireErrorCode, number>(WIRE_CODES.map((c) => [c, 0]));
  private readonly batches: Record<Lane, number> = { ordered: 0, live: 0 };
  private batchBytes = 0;
  private readonly stored: Record<KindLabel, number> = { window: 0, anomaly: 0, late: 0, degrade: 0, other: 0 };
  private duplicates = 0;
  private tombstoned = 0;
  private heartbeats = 0;
  private readonly checkpoints = { stored: 0, not_newer: 0 };
  private checkpointBytes = 0;

  /** Every answer, once it is produced. */
  request(route: string, status: number): void {
    const k = `${route} ${statusClass(status)}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  /** Every error answer (4xx and 5xx), by its wire code. */
  rejection(code: WireErrorCode): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
  }

  /** An accepted batch (200), with its compressed body size and what storage did with it. */
  batch(lane: Lane, bodyBytes: number, r: IngestResult): void {
    this.batches[lane]++;
    this.batchBytes += bodyBytes;
    for (const [kind, n] of Object.entries(r.storedByKind)) {
      const label: KindLabel = (RECORD_KINDS as readonly string[]).includes(kind) ? (kind as KindLabel) : 'other';
      this.stored[label] += n;
    }
    this.duplicates += r.duplicates;
    this.tombstoned += r.tombstoned;
  }

  heartbeat(): void {
    this.heartbeats++;
  }

  /** An accepted checkpoint upload: stored, or refused as not newer than what is held. */
  checkpoint(stored: boolean, bodyBytes: number): void {
    if (stored) {
      this.checkpoints.stored++;
      this.checkpointBytes += bodyBytes;
    } else {
      this.checkpoints.not_newer++;
    }
  }

  families(): MetricFamily[] {
    const requests: Sample[] = [...this.requests.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, value]) => {
        const [route, cls] = k.split(' ') as [string, string];
        return { labels: { route, status_class: cls }, value };
      });
    return [
      counter('weircloud_http_requests_total', 'HTTP requests answered, by route and status class (2xx, 4xx, 5xx).', requests),
      counter('weircloud_requests_rejected_total', 'Requests answered with an error, by wire error code (E_UNAUTHENTICATED, E_MALFORMED, E_TOO_LARGE, E_SEQ_GAP, ...).',
        [...this.rejected.entries()].map(([code, value]) => ({ labels: { code }, value }))),
      counter('weircloud_batches_accepted_total', 'Batches accepted (answered 200), by lane; a re-sent batch counts again.',
        (['ordered', 'live'] as const).map((lane) => ({ labels: { lane }, value: this.batches[lane] }))),
      counter('weircloud_batch_received_bytes_total', 'Compressed body bytes of accepted batches.', this.batchBytes),
      counter('weircloud_records_stored_total', 'Records written to storage, by kind (kinds not listed are counted as other).',
        (Object.keys(this.stored) as KindLabel[]).map((kind) => ({ labels: { kind }, value: this.stored[kind] }))),
      counter('weircloud_records_duplicate_total', 'Records received again and not stored twice (idempotent re-sends).', this.duplicates),
      counter('weircloud_records_tombstoned_total', 'Seqs newly recorded as delivered-but-dropped (skipped ranges of ordered batches).', this.tombstoned),
      counter('weircloud_heartbeats_total', 'Heartbeats accepted.', this.heartbeats),
      counter('weircloud_checkpoint_snapshots_total', 'Checkpoint snapshot uploads accepted: stored, or not_newer (that id or a newer one was held; nothing written).',
        (['stored', 'not_newer'] as const).map((result) => ({ labels: { result }, value: this.checkpoints[result] }))),
      counter('weircloud_checkpoint_snapshot_bytes_total', 'Compressed bytes of checkpoint snapshots stored.', this.checkpointBytes),
    ];
  }
}

const seconds = (ms: number): number => Math.max(0, ms) / 1000;

/**
 * Per-gateway figures from storage rows, one series per registered gateway.
 * Ages are measured on this instance's clock (`nowMs`); a figure the
 * gateway has never given (no batch, no heartbeat, no checkpoint yet) has
 * no sample rather than a made-up value.
 */
export function gatewayFamilies(rows: readonly GatewayRow[], nowMs: number): MetricFamily[] {
  const each = (f: (g: GatewayRow) => number | null): Sample[] => {
    const out: Sample[] = [];
    for (const g of rows) {
      const v = f(g);
      if (v !== null) out.push({ labels: { gateway: g.name }, value: v });
    }
    return out;
  };
  const hb = (f: (h: NonNullable<GatewayRow['heartbeat']>, g: GatewayRow) => number | null) => each((g) => (g.heartbeat === null ? null : f(g.heartbeat, g)));
  return [
    gauge('weircloud_gateways', 'Gateways registered.', rows.length),
    gauge('weircloud_gateway_highest_seq', 'Highest seq stored for the gateway.', each((g) => g.highestSeq)),
    gauge('weircloud_gateway_contiguous_seq', 'Every seq up to this one is stored or tombstoned (what the cloud acks).', each((g) => g.contiguousSeq)),
    gauge('weircloud_gateway_seq_gap', 'highest_seq minus contiguous_seq: seqs still missing below the highest stored (live lane ahead of the ordered lane).',
      each((g) => g.highestSeq - g.contiguousSeq)),
    gauge('weircloud_gateway_last_seen_age_seconds', 'Seconds since the gateway\'s last accepted batch or heartbeat (sync lag as seen from the cloud).',
      each((g) => (g.lastSeenMs === null ? null : seconds(nowMs - g.lastSeenMs)))),
    gauge('weircloud_gateway_heartbeat_age_seconds', 'Seconds since the gateway\'s last heartbeat.',
      each((g) => (g.heartbeatAtMs === null ? null : seconds(nowMs - g.heartbeatAtMs)))),
    gauge('weircloud_gateway_lag_seqs', 'Rows the gateway had written (as of its last heartbeat) that the cloud does not hold in order yet.',
      hb((h, g) => Math.max(0, h.outbox.nextSeq - 1 - g.contiguousSeq))),
    gauge('weircloud_gateway_outbox_rows', 'Outbox rows not yet acknowledged, as of the gateway\'s last heartbeat.', hb((h) => h.outbox.rows)),
    gauge('weircloud_gateway_outbox_bytes', 'Outbox bytes, as of the gateway\'s last heartbeat.', hb((h) => h.outbox.bytes)),
    gauge('weircloud_gateway_backlog_age_seconds', 'Age of the gateway\'s oldest unsent outbox row, as of its last heartbeat (0: nothing unsent).',
      hb((h) => seconds(h.outbox.oldestUnsentAgeMs ?? 0))),
    gauge('weircloud_gateway_outbox_over_quota', '1 when the gateway\'s outbox was over its byte quota at its last heartbeat.', hb((h) => (h.outbox.overQuota ? 1 : 0))),
    counter('weircloud_gateway_outbox_dropped_rows_total', 'Outbox rows the gateway dropped under its quota (all priorities), as reported in its last heartbeat.',
      hb((h) => h.drops.dropped[0] + h.drops.dropped[1] + h.drops.dropped[2])),
    gauge('weircloud_gateway_watermark_lag_seconds', 'Processing time minus event-time watermark on the gateway, as of its last heartbeat.',
      hb((h) => (h.watermarkLagMs === null ? null : seconds(h.watermarkLagMs)))),
    gauge('weircloud_gateway_checkpoint_id', 'Id of the latest checkpoint snapshot stored for the gateway.', each((g) => g.latestCheckpoint?.checkpointId ?? null)),
    gauge('weircloud_gateway_checkpoint_age_seconds', 'Seconds since the latest checkpoint snapshot of the gateway was received.',
      each((g) => (g.latestCheckpoint === null ? null : seconds(nowMs - g.latestCheckpoint.receivedAtMs)))),
  ];
}

/** Process and service figures. */
export function processFamilies(o: { readonly backend: string; readonly storageUp: boolean; readonly inFlight: number; readonly uptimeMs: number }): MetricFamily[] {
  const mem = process.memoryUsage();
  return [
    gauge('weircloud_storage_info', 'The storage backend in use (value always 1).', [{ labels: { backend: o.backend }, value: 1 }]),
    gauge('weircloud_storage_up', '1 when this scrape could read the per-gateway figures from storage, else 0 (they are then left out).', o.storageUp ? 1 : 0),
    gauge('weircloud_http_requests_in_flight', 'Requests being handled (this scrape included).', o.inFlight),
    gauge('weircloud_process_resident_memory_bytes', 'Resident set size of the service process.', mem.rss),
    gauge('weircloud_process_heap_bytes', 'V8 heap in use.', mem.heapUsed),
    gauge('weircloud_uptime_seconds', 'Seconds since the service started.', seconds(o.uptimeMs)),
  ];
}
