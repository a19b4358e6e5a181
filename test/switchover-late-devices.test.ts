/**
 * Switchover test 6, over real processes: the simulated fleet (weir-sim in
 * live mode, 6 climate sensors at QoS 1, 60× time) has link outages of
 * seconds to minutes per device; a device buffers its readings while its
 * link is down, comes back and replays them with their original timestamps
 * (oldest first, or newest first for a quarter of the devices) while the
 * others kept the watermark moving. Their readings reach the gateway late, and must be
 * handled exactly as the pipeline's lateness settings say (minute windows,
 * 10 s out of order, 1 min allowed lateness):
 *
 * - within the allowed lateness: the window is corrected (version 2, 3, …);
 * - beyond it: a late record, whose window had closed for good (its end
 *   plus the allowed lateness at or before the watermark it met);
 * - nothing silently lost: every reading the gateway made durable is in the
 *   cloud either in exactly one window's final result or as a late record,
 *   and every result the gateway counted is there.
 *
 * A live fleet is as deterministic as the network, so this test checks
 * accounting, not values (test 3 compares values on a recording).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHookedStack } from './support/gateway-hooks.ts';
import { SWITCHOVER_PIPELINES } from './support/seeded-input.ts';
import { ReadingPublisher } from './support/reading-publisher.ts';
import { readCloud } from './support/cloud-view.ts';
import { readGatewayLog, readingId } from './support/gateway-log.ts';

const MINUTE = 60_000;
const LATENESS = 60_000; // switchover-pipelines.yaml: minute.window.allowedLateness

test('devices replaying buffered readings after their own outage: late data handled per the lateness settings, nothing silently lost', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-switchover-late-'));
  const stack = await startHookedStack({
    dir,
    mqttAuth: 'anonymous',
    pipelines: SWITCHOVER_PIPELINES,
    checkpointInterval: '200ms',
    cloud: { batch: { maxRecords: 200, maxAge: '100ms' } },
    gatewayConfig: { ingest: { outOfRange: 'pass' } },
    sim: {
      devices: { 'env-sensor': 6 },
      seed: 11,
      timeScale: 60,
      faultRate: 0,
      duration: '7m',
      // About 3 link outages per device, 1 min long on average (some a few seconds, some minutes): a short one
      // leaves the window it began in open to corrections, a long one pushes readings beyond the allowed lateness.
      outagesPerDay: 600,
      extraArgs: ['--qos', '1', '--outage-mean', '60s', '--buffer-limit', '10000'],
    },
  });
  let flush: ReadingPublisher | null = null;
  try {
    const sim = stack.sim!;
    const exit = await sim.exited; // the simulated 7 minutes are over, every buffer replayed
    assert.equal(exit.code, 0, `the simulator ran to its end:\n${sim.tail(10)}`);
    const summary = JSON.parse(sim.lines.findLast((l) => l.text.startsWith('summary '))!.text.slice('summary '.length)) as
      { outages: number; replayedMessages: number; bufferDrops: number; mqtt: { published: number; requeued: number } };
    assert.ok(summary.outages >= 6 && summary.replayedMessages > 0, `outages and replays happened: ${JSON.stringify(summary)}`);

    // One reading two hours on, from a device outside the fleet, moves the watermark past every window and its lateness.
    const before = await stack.metrics();
    flush = new ReadingPublisher(stack.urls.broker, [{ deviceId: 'env-9999', ts: Date.now() + 2 * 3600_000, readings: [{ deviceId: 'env-9999', metric: 'temperature', value: 21, ts: Date.now() + 2 * 3600_000 }] }]);
    flush.start();
    await flush.until(() => flush!.done, 'the flush reading acknowledged');
    const c0 = (await stack.metrics()).sum('weir_checkpoints_total');
    await stack.untilMetrics((m) => m.sum('weir_checkpoints_total') >= c0 + 2 && m.sum('weir_outbox_rows') === 0, { what: 'the last results checkpointed and uploaded' });
    await stack.until(async () => {
      const g = await stack.cloudGateway();
      return g.contiguousSeq === g.highestSeq;
    }, { what: 'the cloud to hold every seq' });
    const m = await stack.metrics();
    await flush.stop();
    await stack.stop();
    const got = await readCloud(stack.files.cloudDb, stack.gatewayId);

    const frames = before.sum('weir_ingest_frames_total', { transport: 'mqtt' });
    const readings = before.sum('weir_ingest_readings_total', { transport: 'mqtt' });
    // Device side: every acknowledged message is durable. A message whose PUBACK its dropped link swallowed is
    // re-sent (QoS 1): the gateway recognises its readings and does not log them again, so no reading is in the
    // log twice; a requeued message that was durable but never re-sent before the end explains frames > acked.
    assert.ok(frames >= summary.mqtt.published && frames <= summary.mqtt.published + summary.mqtt.requeued,
      `durable frames ${frames} within [acked ${summary.mqtt.published}, acked + re-sent ${summary.mqtt.published + summary.mqtt.requeued}]`);
    const logged = await readGatewayLog(stack.files.gatewayDb);
    const ids = new Set<string>();
    const twice = logged.readings.filter((r) => (ids.has(readingId(r)) ? true : (ids.add(readingId(r)), false)));
    assert.deepEqual(twice.map(readingId), [], 'no reading identity is in the durable log twice');
    assert.equal(summary.bufferDrops, 0, 'no device overflowed its buffer');

    // Nothing silently lost: each durable reading is in exactly one final window or is a late record.
    const minute = got.finalView.filter((w) => w.pipeline === 'minute' && w.key.deviceId !== 'env-9999');
    const late = got.records.filter((r) => r.kind === 'late').map((r) => r.payload as { pipeline: string; reading: { eventTime: number }; watermark: number; missedWindows: number });
    const inWindows = minute.reduce((n, w) => n + w.count, 0);
    assert.equal(inWindows + late.length, readings, `${inWindows} in windows + ${late.length} late = ${readings} durable readings`);
    // Every result the gateway counted reached the cloud, once.
    assert.equal(got.storedByKind.window, m.sum('weir_windows_total', { pipeline: 'minute' }) + m.sum('weir_corrections_total', { pipeline: 'minute' }));
    assert.equal(got.storedByKind.late, m.sum('weir_late_readings_total', { pipeline: 'minute' }));
    assert.equal(got.storedByKind.anomaly, m.sum('weir_anomalies_total'));
    assert.equal(got.gateway.contiguousSeq, got.counts.records, 'every seq stored once, none skipped');

    // Lateness as configured: late records only for windows closed for good; corrections within the lateness.
    const corrected = minute.filter((w) => w.version > 1);
    assert.ok(late.length > 0 && corrected.length > 0, `the replays produced late records (${late.length}) and corrected windows (${corrected.length})`);
    for (const l of late) {
      const end = Math.floor(l.reading.eventTime / MINUTE) * MINUTE + MINUTE;
      assert.ok(end + LATENESS <= l.watermark, `late record at ${l.reading.eventTime}: its window [.., ${end}) was still open to corrections at watermark ${l.watermark}`);
    }
    t.diagnostic(`${summary.outages} device outages, ${summary.replayedMessages} messages replayed by devices, ${summary.mqtt.requeued} re-sent; ` +
      `gateway: ${readings} readings in ${frames} frames (acked by the devices: ${summary.mqtt.published}); cloud: ${minute.length} windows ` +
      `(${corrected.length} corrected), ${late.length} late records, ${got.storedByKind.anomaly} anomalies`);
  } finally {
    await flush?.stop();
    await stack.stop({ drainMs: 0 });
    if (process.env.WEIR_TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
});
