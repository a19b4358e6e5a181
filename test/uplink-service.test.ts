/** The uplink as a `weir run` service: from the config's cloud section to rows acked by a real cloud-sync. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGatewayConfig } from '../edge-runtime/config/gateway-config.ts';
import { Gateway } from '../edge-runtime/gateway/gateway.ts';
import { defaultServices } from '../edge-runtime/gateway/services.ts';
import { gatewayMetrics } from '../edge-runtime/gateway/gateway-metrics.ts';
import type { MetricFamily } from '../edge-runtime/metrics/registry.ts';
import type { UplinkService } from '../edge-runtime/uplink/uplink-service.ts';

/** Unlabelled metric values by name (summed over labels). */
function metricValues(fams: readonly MetricFamily[]): Map<string, number> {
  return new Map(fams.map((f) => [f.name, f.samples.reduce((a, x) => a + x.value, 0)]));
}
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { tempDir } from '../edge-runtime/state/test-support.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { ManualClock } from '../edge-runtime/engine/types.ts';
import { startUplinkService } from '../edge-runtime/uplink/uplink-service.ts';
import { startTestCloud } from './support/cloud-harness.ts';
import { commitRows, windowOut } from './support/outbox-fill.ts';

test('startUplinkService: null without a cloud section; with one, delivers and stops cleanly', async () => {
  const tmp = tempDir();
  const cloud = await startTestCloud('sqlite');
  const store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
  const logger = memoryLogger();
  const clock = new ManualClock(1_000_000);
  try {
    const base = { gatewayId: 'gw-a', baseDir: tmp.dir, checkpointIntervalMs: 1000 };
    assert.equal(await startUplinkService({ config: { ...base, cloud: null }, store, logger, clock }), null);
    writeFileSync(tmp.file('token'), cloud.token);
    const svc = await startUplinkService({ config: { ...base, cloud: { endpoint: cloud.url, tokenFile: 'token', heartbeat: 0, snapshot: 0, batch: { maxAge: 0 } } }, store, logger, clock });
    assert.ok(svc !== null);
    await svc.uplink.waitFor((e) => e.type === 'idle');
    await commitRows(store, Array.from({ length: 50 }, (_, i) => windowOut(i)), 1_000_000);
    const idle = svc.uplink.waitFor((e) => e.type === 'idle');
    svc.uplink.notify();
    await idle;
    await svc.stop();
    assert.equal((await cloud.storage.counts()).records, 50);
    assert.equal((await store.outboxStats(0)).rows, 0);
    assert.deepEqual(logger.entries.map((e) => e.msg), ['uplink started']);
    assert.ok(!JSON.stringify(logger.entries).includes(cloud.token));
  } finally {
    await store.close();
    await cloud.close();
    tmp.cleanup();
  }
});

test('a clean gateway stop uploads what its final checkpoint committed; with the cloud down it does not hang', async () => {
  const tmp = tempDir();
  const cloud = await startTestCloud('sqlite');
  writeFileSync(tmp.file('token'), cloud.token);
  // Checkpoints only at stop (1 h interval): every window row comes from the final checkpoint.
  const cfg = (finalUpload: string): string => `gateway:
  id: gw-a
  stateDir: state
  checkpointInterval: 1h
cloud: { endpoint: ${cloud.url}, tokenFile: token, heartbeat: 0, snapshot: 0, finalUpload: ${finalUpload}, timeouts: { connect: 1s, response: 2s }, batch: { maxAge: 0 } }
pipelines:
  - name: env
    keyBy: [deviceId, metric]
    window: { type: tumbling, size: 1s }
    aggregates: [count]
`;
  const t = Date.UTC(2026, 0, 1, 12);
  const feed = async (g: Gateway, from: number): Promise<void> => {
    for (let i = from; i < from + 20; i++) {
      const o = await g.ingestor.submit({ transport: 'mqtt', topicOrUri: 'weir/env-0001/telemetry', deviceId: 'env-0001', payload: Buffer.from(JSON.stringify({ ts: t + i * 1000, temperature: 20 })), arrivalTime: t });
      assert.equal(o.kind, 'accepted');
    }
  };
  const issued = async (): Promise<{ issued: number; acked: number }> => {
    const s = await LocalStateStore.open({ path: join(tmp.dir, 'state', 'weir.db') });
    try {
      const st = await s.outboxStats(0);
      return { issued: st.nextSeq - 1, acked: st.ackedSeq };
    } finally {
      await s.close();
    }
  };
  try {
    writeFileSync(tmp.file('gw.yaml'), cfg('5s'));
    const logger = memoryLogger();
    let g = await Gateway.start(parseGatewayConfig(cfg('5s'), tmp.file('gw.yaml')), { logger, services: defaultServices() });
    await feed(g, 0);
    // Mid-run, the uplink's figures on /metrics: a checkpoint's rows acknowledged, the link up.
    const up = g.service<UplinkService>('uplink')!.uplink;
    const acked = up.waitFor((e) => e.type === 'acked');
    await g.runtime.checkpoint();
    up.notify();
    await acked;
    const m1 = metricValues(await gatewayMetrics(g));
    assert.equal(m1.get('weir_uplink_up'), 1);
    assert.equal(m1.get('weir_uplink_records_total'), up.stats.records);
    assert.ok(up.stats.records > 0);
    assert.equal(m1.get('weir_uplink_acked_seq'), up.stats.contiguousSeq);
    assert.equal(m1.get('weir_uplink_failures_total'), 0);
    await feed(g, 50);
    await g.stop();
    const a = await issued();
    assert.ok(a.issued >= 15, `windows were committed at stop (${a.issued})`);
    assert.equal(a.acked, a.issued, 'all of them acknowledged by the cloud before the gateway stopped');
    assert.equal((await cloud.storage.counts()).records, a.issued);

    // The cloud is down: the stop gives up at the first failure, keeps the rows, and returns.
    await cloud.stop();
    g = await Gateway.start(parseGatewayConfig(cfg('30s'), tmp.file('gw.yaml')), { logger, services: defaultServices() });
    await feed(g, 100);
    const up2 = g.service<UplinkService>('uplink')!.uplink;
    const failed = up2.waitFor((e) => e.type === 'failed');
    await g.runtime.checkpoint();
    up2.notify();
    await failed;
    const m2 = metricValues(await gatewayMetrics(g));
    assert.equal(m2.get('weir_uplink_up'), 0);
    assert.ok((m2.get('weir_uplink_consecutive_failures') ?? 0) >= 1 && (m2.get('weir_uplink_failures_total') ?? 0) >= 1);
    await feed(g, 200);
    const t0 = performance.now();
    await g.stop();
    assert.ok(performance.now() - t0 < 25_000, 'did not wait out the 30 s final upload');
    const b = await issued();
    assert.ok(b.issued > a.issued && b.acked === a.acked, 'the new rows stay in the outbox for the next start');
    assert.ok(logger.entries.some((e) => e.msg === 'uplink final upload' && e.fields?.result === 'failed'));
  } finally {
    await cloud.close();
    tmp.cleanup();
  }
});
