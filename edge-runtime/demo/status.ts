import type { Stack } from './stack.ts';
import type { Metrics } from './prom-text.ts';

/**
 * The demo's status figures, read the way an operator would: the gateway's
 * /metrics (what Prometheus scrapes) and the cloud's query API.
 *
 * Uplink online/offline: the gateway's /metrics has no uplink gauge yet, so
 * the cloud's "last seen" decides (the stack's gateway sends a heartbeat
 * every 5 s even with nothing to upload): offline when the cloud has not
 * heard from the gateway for OFFLINE_AFTER_MS. When the gateway exports
 * `weir_uplink_up` (1 = its last request succeeded), that is used instead.
 */
export interface StatusFigures {
  readonly at: number;
  readonly uptimeS: number;
  readonly readings: number;
  /** Since the previous sample; null for the first. */
  readonly readingsPerS: number | null;
  readonly windows: number;
  readonly anomalies: number;
  readonly quarantined: number;
  readonly outboxRows: number;
  /** Age of the oldest unsent outbox row, s. */
  readonly syncLagS: number;
  readonly uplink: 'online' | 'catching up' | 'offline' | 'unknown';
  /** The cloud's contiguous seq for this gateway (every row up to it is stored), null when the cloud did not answer. */
  readonly cloudSeq: number | null;
}

export const OFFLINE_AFTER_MS = 8000;

export class StatusSampler {
  private prev: { at: number; readings: number } | null = null;
  private readonly startedAt = Date.now();
  last: StatusFigures | null = null;

  constructor(private readonly stack: Stack) {}

  async sample(): Promise<StatusFigures> {
    const [m, cloud] = await Promise.all([this.stack.metrics(3000), this.stack.cloudGateway().catch(() => null)]);
    const at = Date.now();
    const readings = m.sum('weir_ingest_readings_total');
    const readingsPerS = this.prev === null || at <= this.prev.at ? null : ((readings - this.prev.readings) * 1000) / (at - this.prev.at);
    this.prev = { at, readings };
    const outboxRows = m.sum('weir_outbox_rows');
    const syncLagS = m.sum('weir_sync_backlog_age_seconds');
    const f: StatusFigures = {
      at,
      uptimeS: (at - this.startedAt) / 1000,
      readings,
      readingsPerS,
      windows: m.sum('weir_windows_total') + m.sum('weir_corrections_total'),
      anomalies: m.sum('weir_anomalies_total'),
      quarantined: m.sum('weir_quarantined_total'),
      outboxRows,
      syncLagS,
      uplink: uplinkState(m, cloud?.lastSeenAgoMs ?? null, cloud !== null, syncLagS),
      cloudSeq: cloud?.contiguousSeq ?? null,
    };
    this.last = f;
    return f;
  }
}

function uplinkState(m: Metrics, lastSeenAgoMs: number | null, cloudAnswered: boolean, syncLagS: number): StatusFigures['uplink'] {
  let up: boolean;
  if (m.has('weir_uplink_up')) up = m.sum('weir_uplink_up') > 0;
  else if (!cloudAnswered) return 'unknown';
  else up = lastSeenAgoMs !== null && lastSeenAgoMs <= OFFLINE_AFTER_MS;
  if (!up) return 'offline';
  return syncLagS > 5 ? 'catching up' : 'online';
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** One status line, e.g. `  42s  readings 61/s (2,530)  windows 312  anomalies 7  outbox 3  sync lag 0.4s  uplink online  cloud seq 318`. */
export function formatStatus(f: StatusFigures): string {
  return [
    `${String(Math.round(f.uptimeS)).padStart(5)}s`,
    `readings ${f.readingsPerS === null ? '-' : int(f.readingsPerS)}/s (${int(f.readings)})`,
    `windows ${int(f.windows)}`,
    `anomalies ${int(f.anomalies)}`,
    `outbox ${int(f.outboxRows)}`,
    `sync lag ${f.syncLagS.toFixed(1)}s`,
    `uplink ${f.uplink}`,
    `cloud seq ${f.cloudSeq === null ? '?' : int(f.cloudSeq)}`,
  ].join('  ');
}
