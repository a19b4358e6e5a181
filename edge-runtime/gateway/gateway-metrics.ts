import { counter, gauge, type MetricFamily, type Sample } from '../metrics/registry.ts';
import type { Gateway } from './gateway.ts';
import { isKeyedState } from '../engine/keyed-state.ts';
import type { UplinkService } from '../uplink/uplink-service.ts';

/**
 * Everything the gateway reports on /metrics, read at scrape time from the
 * components that own the figures. Names follow Prometheus conventions
 * (`weir_` prefix, `_total` for counters, base units: bytes, seconds).
 */
export async function gatewayMetrics(g: Gateway): Promise<MetricFamily[]> {
  const ing = g.ingestor.counters;
  const rt = g.runtime;
  const [log, outbox, quarantine] = await Promise.all([g.store.logStats(), g.store.outboxStats(g.clock.now()), g.store.quarantineStats()]);
  const perPipeline = (f: (p: (typeof rt.compiled)[number]) => number): Sample[] => rt.compiled.map((p) => ({ labels: { pipeline: p.plan.name }, value: f(p) }));
  const gov = rt.governor?.stats;
  const mem = process.memoryUsage();
  return [
    counter('weir_ingest_frames_total', 'Frames accepted into the durable log, by transport.', (['mqtt', 'coap'] as const).map((t) => ({ labels: { transport: t }, value: ing.byTransport[t].frames }))),
    counter('weir_ingest_readings_total', 'Readings made durable, by transport.', (['mqtt', 'coap'] as const).map((t) => ({ labels: { transport: t }, value: ing.byTransport[t].readings }))),
    counter('weir_ingest_duplicates_total', 'Readings recognised as redeliveries of one already durable (same device, metric, event time): acknowledged, not logged again.', (['mqtt', 'coap'] as const).map((t) => ({ labels: { transport: t }, value: ing.byTransport[t].duplicates }))),
    counter('weir_ingest_bytes_total', 'Payload bytes accepted.', ing.bytes),
    counter('weir_quarantined_total', 'Frames quarantined, by reason code.', Object.entries(ing.quarantinedByReason).map(([reason, n]) => ({ labels: { reason }, value: n ?? 0 }))),
    gauge('weir_quarantine_rows', 'Rows held in the quarantine table.', quarantine.rows),
    counter('weir_late_readings_total', 'Readings too late for a window (side output), by pipeline.', perPipeline((p) => (p.window ? p.window.counters.lateDropped + p.window.counters.latePartial : 0))),
    counter('weir_corrections_total', 'Corrected window results emitted, by pipeline.', perPipeline((p) => p.window?.counters.corrections ?? 0)),
    counter('weir_windows_total', 'Window results emitted the first time, by pipeline.', perPipeline((p) => p.window?.counters.fired ?? 0)),
    counter('weir_anomalies_total', 'Anomalies flagged, by pipeline.', perPipeline((p) => p.detect?.counters.anomalies ?? 0)),
    gauge('weir_watermark_lag_seconds', 'Processing time minus event-time watermark, by pipeline.', perPipeline((p) => {
      const w = p.watermark.current;
      return Number.isFinite(w.time) && Number.isFinite(w.processingTime) ? Math.max(0, (w.processingTime - w.time) / 1000) : 0;
    })),
    gauge('weir_state_bytes', 'Operator state held in memory (approximate), by pipeline.', perPipeline((p) => p.runner.stateBytes())),
    gauge('weir_state_spilled_keys', 'Operator state rows spilled to disk, by pipeline.', perPipeline((p) => p.runner.operators.reduce((a, op) => a + (isKeyedState(op) ? op.spilledRows() : 0), 0))),
    counter('weir_state_refused_readings_total', 'Readings refused because their key was new while over the memory budget.', gov?.refusedReadings ?? 0),
    counter('weir_checkpoints_total', 'Checkpoints committed.', rt.stats.checkpoints),
    counter('weir_checkpoint_failures_total', 'Checkpoints that failed to commit (retried with the next).', rt.stats.failedCheckpoints),
    counter('weir_checkpoints_early_total', 'Checkpoints started before the interval because gateway.checkpointMaxRows changed rows were waiting.', rt.stats.earlyCheckpoints),
    gauge('weir_checkpoint_duration_seconds', 'Duration of the last checkpoint.', rt.stats.lastCheckpointMs / 1000),
    gauge('weir_log_bytes', 'Bytes of the ingest log on disk.', log.bytes),
    gauge('weir_log_records', 'Records in the ingest log.', log.records),
    gauge('weir_log_processed_offset', 'Highest log offset the pipelines processed.', rt.stats.processedOffset),
    gauge('weir_outbox_rows', 'Outbox rows not yet acknowledged by the cloud, by priority.', (['anomaly', 'aggregate', 'raw'] as const).map((c, i) => ({ labels: { priority: c }, value: outbox.rowsByPriority[i] ?? 0 }))),
    gauge('weir_outbox_bytes', 'Bytes of the outbox.', outbox.bytes),
    gauge('weir_sync_backlog_age_seconds', 'Age of the oldest unsent outbox row.', outbox.oldestUnsentAgeMs === null ? 0 : outbox.oldestUnsentAgeMs / 1000),
    counter('weir_outbox_merged_total', 'Outbox rows merged to stay under the quota.', outbox.degradeTotals.merges),
    counter('weir_outbox_dropped_total', 'Outbox rows dropped to stay under the quota, by priority.', (['anomaly', 'aggregate', 'raw'] as const).map((c, i) => ({ labels: { priority: c }, value: outbox.degradeTotals.dropped[i] ?? 0 }))),
    gauge('weir_process_resident_memory_bytes', 'Resident set size of the gateway process.', mem.rss),
    gauge('weir_process_heap_bytes', 'V8 heap in use.', mem.heapUsed),
    gauge('weir_up_seconds', 'Seconds since the gateway started.', (Date.now() - g.startedAt) / 1000),
    ...uplinkMetrics(g.service<UplinkService>('uplink'), g.clock.now()),
  ];
}

/** The uplink's own figures (none without a `cloud:` section). */
function uplinkMetrics(svc: UplinkService | undefined, now: number): MetricFamily[] {
  if (svc === undefined) return [];
  const st = svc.uplink.stats;
  const lastAck = svc.lastAckedAt();
  return [
    gauge('weir_uplink_up', '1 when the uplink\'s last request to the cloud succeeded (0 after a failure, until one succeeds).', svc.lastRequestOk() ? 1 : 0),
    gauge('weir_uplink_acked_seq', 'Highest outbox seq the cloud acknowledged with every seq before it.', st.contiguousSeq),
    gauge('weir_uplink_consecutive_failures', 'Failed requests since the last success.', st.consecutiveFailures),
    gauge('weir_sync_lag_seconds', 'Seconds since the cloud last acknowledged a batch (0 before the first).', lastAck === null ? 0 : Math.max(0, now - lastAck) / 1000),
    counter('weir_uplink_batches_total', 'Batches the cloud acknowledged.', st.batches),
    counter('weir_uplink_records_total', 'Outbox rows the cloud acknowledged.', st.records),
    counter('weir_uplink_duplicate_records_total', 'Rows the cloud already held (re-sent after a lost answer).', st.duplicates),
    counter('weir_uplink_wire_bytes_total', 'Compressed bytes of acknowledged batches.', st.wireBytes),
    counter('weir_uplink_failures_total', 'Failed requests to the cloud.', st.failures),
  ];
}
