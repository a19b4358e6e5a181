/**
 * `npm run bench:switchover` — what offline/online switchover and crashes
 * cost, measured on the whole system: cloud-sync and `weir run` as child
 * processes on 127.0.0.1 (edge-runtime/demo/stack.ts), fed by a QoS 1
 * publisher replaying a seeded recording (weir-sim record mode: climate
 * sensors every 5 s, with faults), through test/support/switchover-
 * pipelines.yaml (minute windows per device and metric, an out-of-range
 * detector). Gateway settings are the sample's (checkpoint every 1 s,
 * FULL durability) and the uplink's defaults (batches up to 2,000 records
 * or 1 s old), so the figures are what a default install gets.
 *
 * Three phases on one stack, in this order:
 *
 * 1. online: `--rate` messages/s for `--online-seconds`. Latency, per
 *    anomaly: from the publish of the anomalous reading to the anomaly
 *    record stored in the cloud (its received_at); per window: from the
 *    publish of the reading that moved the watermark past the window's end
 *    to the window record stored. p50/p99 over all of them.
 * 2. outage: the uplink's link is down (every connection dropped) while
 *    `--outage-messages` messages are published as fast as the gateway
 *    takes them. Disk: growth of the gateway's state files (database + WAL)
 *    per reading buffered. Then the link comes back: drain rate = backlog
 *    rows / time from the first batch the cloud accepted to the cloud's
 *    contiguous seq reaching the gateway's last seq. The wait from link up
 *    to that first batch is the uplink's retry backoff (full jitter, up to
 *    60 s) and is reported apart (reconnectDelayMs).
 * 3. crashes: while messages keep coming, the gateway is SIGKILLed
 *    `--kills` times (each after the restarted process took a checkpoint and
 *    2,000 more messages came in) and restarted. Recovery: from spawning the
 *    new process to the first PUBACK it sends (the reading is durable:
 *    ingest resumed), median over the kills; it includes Node starting the
 *    program (from source: through tsx) and replaying the log after the last
 *    checkpoint.
 *
 * Human summary on stderr; the last line on stdout is `BENCH {json}`.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { recordFleet } from '../../test/support/seeded-input.ts';
import { SwitchoverRun } from '../../test/support/switchover-run.ts';
import { HttpFaultProxy } from '../../test/support/http-fault-proxy.ts';
import { readCloud } from '../../test/support/cloud-view.ts';
import { isProbe } from '../../test/support/gateway-hooks.ts';
import { arg, benchLine, median, round } from './bench-util.ts';

const DEVICES = arg('devices', 20);
const HOURS = arg('hours', 4);
const RATE = arg('rate', 200);
const ONLINE_S = arg('online-seconds', 10);
const OUTAGE_MESSAGES = arg('outage-messages', 30_000);
const KILLS = arg('kills', 5);
const MAX_OUT_OF_ORDER = 10_000; // switchover-pipelines.yaml, pipeline `minute`

const say = (s: string): void => void process.stderr.write(`${s}\n`);
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

function stateBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (/^weir\.db(-wal|-shm)?$/.test(f)) n += statSync(join(dir, f)).size;
  return n;
}

const t0 = Date.now();
const { readings } = recordFleet(['--devices', `env-sensor=${DEVICES}`, '--duration', `${HOURS}h`, '--seed', '3', '--fault-rate', '50', '--outages-per-day', '0']);
let proxy: HttpFaultProxy | null = null;
const run = await SwitchoverRun.start(readings, {
  limit: 0,
  checkpointInterval: '1s',
  cloud: { batch: { maxRecords: 2000, maxAge: '1s' } },
  uplinkVia: async (c) => (proxy = await HttpFaultProxy.start(c)).port,
});
const p = proxy!;
const { stack, publisher } = run;
const total = publisher.messages.length;
const onlineEnd = Math.min(total, RATE * ONLINE_S);
const outageEnd = Math.min(total, onlineEnd + OUTAGE_MESSAGES);
if (total - outageEnd < KILLS * 2000) throw new Error(`the recording has ${total} messages: too few for ${KILLS} kills after the other phases (raise --hours)`);
say(`switchover bench: ${DEVICES} env-sensors, ${total} messages (${readings.length} readings); stack up in ${Date.now() - t0} ms`);

try {
  // 1. Online, paced.
  const started = Date.now();
  const pacer = setInterval(() => publisher.publishUpTo(Math.min(onlineEnd, Math.floor(((Date.now() - started) / 1000) * RATE))), 20);
  await publisher.until(() => publisher.ackedCount >= onlineEnd, 'the online phase acknowledged', ONLINE_S * 1000 + 60_000);
  clearInterval(pacer);
  await run.drained();
  say(`online: ${onlineEnd} messages at ${RATE}/s delivered`);

  // 2. Outage.
  const cloudBefore = (await stack.cloudGateway()).contiguousSeq;
  const m0 = await stack.metrics();
  const disk0 = stateBytes(stack.files.gatewayStateDir);
  const readings0 = m0.sum('weir_ingest_readings_total');
  p.down = true;
  const downAt = Date.now();
  publisher.publishUpTo(outageEnd);
  await publisher.until(() => publisher.ackedCount >= outageEnd, 'the outage phase acknowledged', 300_000);
  const c0 = (await stack.metrics()).sum('weir_checkpoints_total');
  const m1 = await stack.untilMetrics((m) => m.sum('weir_checkpoints_total') >= c0 + 2, { what: 'two checkpoints after the outage burst' });
  const disk1 = stateBytes(stack.files.gatewayStateDir);
  const buffered = m1.sum('weir_ingest_readings_total') - readings0;
  const backlog = m1.sum('weir_outbox_rows');
  const target = cloudBefore + backlog;
  p.down = false;
  const upAt = Date.now();
  const done = await stack.until(async () => ((await stack.cloudGateway()).contiguousSeq >= target ? Date.now() : null), { timeoutMs: 180_000, intervalMs: 25, what: 'the backlog to drain' });
  const firstBatch = p.seen.find((s) => s.path === '/v1/batches' && s.status === 200 && s.at >= upAt)!.at;
  const drain = { rows: backlog, ms: done - firstBatch, reconnectMs: firstBatch - upAt };
  const disk = {
    perReading: (disk1 - disk0) / buffered,
    logPerReading: (m1.sum('weir_log_bytes') - m0.sum('weir_log_bytes')) / buffered,
    outboxPerReading: (m1.sum('weir_outbox_bytes') - m0.sum('weir_outbox_bytes')) / buffered,
  };
  say(`outage: ${round((upAt - downAt) / 1000, 1)} s down, ${buffered} readings buffered, ${backlog} outbox rows; state files +${disk1 - disk0} B ` +
    `(${round(disk.perReading, 1)} B/reading; log ${round(disk.logPerReading, 1)}, outbox ${round(disk.outboxPerReading, 1)})`);
  say(`drain: ${backlog} rows in ${drain.ms} ms after the first accepted batch (${round(backlog / (drain.ms / 1000))} rows/s); uplink retry came ${drain.reconnectMs} ms after link up`);

  // 3. Crashes under load.
  publisher.publishUpTo(total);
  const recoveries: { ms: number; readyMs: number; replayed: number }[] = [];
  for (let k = 0; k < KILLS; k++) {
    // Each kill under load, a checkpoint after the previous restart: the restart replays at most a checkpoint interval.
    const from = publisher.ackedCount;
    await stack.gateway.waitFor(isProbe('checkpoint-committed'), { timeoutMs: 60_000 });
    await publisher.until(() => publisher.ackedCount >= from + 2000, 'load before the kill', 120_000);
    stack.gateway.kill('SIGKILL');
    await stack.gateway.exited;
    const mark = stack.gateway.mark();
    const spawnAt = Date.now();
    await stack.gateway.start();
    const readyMs = Date.now() - spawnAt;
    const firstAck = (): number | null => publisher.connections.find((c) => c.connectedAt >= spawnAt && c.firstAckAt !== null)?.firstAckAt ?? null;
    await publisher.until(() => firstAck() !== null, 'the first PUBACK after the restart', 60_000);
    const replayed = Number(stack.gateway.lines.find((l) => l.n > mark && l.msg === 'recovered')?.json?.replayedRecords ?? NaN);
    recoveries.push({ ms: firstAck()! - spawnAt, readyMs, replayed });
    say(`kill ${k + 1}: first PUBACK ${firstAck()! - spawnAt} ms after spawn ('gateway started' at ${readyMs} ms, ${replayed} log records replayed)`);
  }

  // Latency of phase 1, from the cloud's own receive times.
  await publisher.stop();
  await stack.stop({ drainMs: 0 });
  const cloud = await readCloud(stack.files.cloudDb, stack.gatewayId);
  const sentAt = new Map<string, number>();
  let maxTs = -Infinity;
  const advancer: { ts: number; at: number }[] = []; // publishes that raised the max event time, in order
  for (let i = 0; i < onlineEnd; i++) {
    const msg = publisher.messages[i]!;
    sentAt.set(`${msg.deviceId}|${msg.ts}`, publisher.firstSentAt[i]!);
    if (msg.ts > maxTs) {
      maxTs = msg.ts;
      advancer.push({ ts: msg.ts, at: publisher.firstSentAt[i]! });
    }
  }
  const anomalyMs: number[] = [];
  const windowMs: number[] = [];
  for (const r of cloud.records) {
    const o = r.payload as { deviceId?: string; eventTime?: number; end?: number; version?: number };
    if (r.kind === 'anomaly') {
      const at = sentAt.get(`${o.deviceId}|${o.eventTime}`);
      if (at !== undefined) anomalyMs.push(r.receivedAtMs - at);
    } else if (r.kind === 'window' && o.version === 1) {
      // The window fired when the watermark (max event time − 10 s) reached its end.
      const a = advancer.find((x) => x.ts - MAX_OUT_OF_ORDER >= o.end!);
      if (a !== undefined) windowMs.push(r.receivedAtMs - a.at);
    }
  }
  const result = {
    recoveryMs: round(median(recoveries.map((r) => r.ms))),
    drainRecordsPerSec: round(drain.rows / (drain.ms / 1000)),
    diskBytesPerReading: round(disk.perReading, 1),
    p50LatencyMs: round(pct(anomalyMs, 50)),
    p99LatencyMs: round(pct(anomalyMs, 99)),
    latencySamples: anomalyMs.length,
    windowP50LatencyMs: round(pct(windowMs, 50)),
    windowP99LatencyMs: round(pct(windowMs, 99)),
    windowLatencySamples: windowMs.length,
    recoveryReadyMs: round(median(recoveries.map((r) => r.readyMs))),
    recoveryMsAll: recoveries.map((r) => r.ms),
    kills: KILLS,
    drainRows: drain.rows,
    reconnectDelayMs: drain.reconnectMs,
    outageMs: upAt - downAt,
    readingsBuffered: buffered,
    logBytesPerReading: round(disk.logPerReading, 1),
    outboxBytesPerReading: round(disk.outboxPerReading, 1),
    devices: DEVICES,
    onlineRatePerSec: RATE,
    checkpointIntervalMs: 1000,
  };
  say(`latency publish → cloud store: anomalies p50 ${result.p50LatencyMs} ms, p99 ${result.p99LatencyMs} ms (${anomalyMs.length}); ` +
    `windows p50 ${result.windowP50LatencyMs} ms, p99 ${result.windowP99LatencyMs} ms (${windowMs.length})`);
  say(`recovery after SIGKILL (spawn → first PUBACK): median ${result.recoveryMs} ms of ${result.recoveryMsAll.join(', ')}`);
  benchLine(result);
} finally {
  await run.dispose();
  await p.close();
}
