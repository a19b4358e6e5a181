/**
 * Offline/online switchover with real processes and real sockets: the
 * stack (edge-runtime/demo/stack.ts: cloud-sync, `weir run`, `weir-sim`)
 * with a FaultProxy between the gateway's uplink and the cloud.
 *
 * 1. Under load, the link is cut while the outbox fills (with anomalies in
 *    it), then restored: every row the gateway committed reaches the cloud
 *    exactly once with no gaps, and the anomalies overtake the backlog.
 * 2. Blackhole (connections accepted, bytes swallowed) while the outbox
 *    fills, then flapping between cut, pass and blackhole, ending in pass:
 *    processing never waits on the cloud, the uplink recovers within its
 *    timeouts, and again nothing is lost or duplicated.
 *
 * Outages are sized by what they do (outbox rows queued), not by clocks;
 * the flapping schedule is the fault itself. Simulated time runs 60× so a
 * minute window fires every wall second. The long version is
 * `npm run soak:switchover -- --minutes N`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from '../edge-runtime/demo/stack.ts';
import { FaultProxy, type ProxyMode } from './support/fault-proxy.ts';
import { checkExactlyOnce, checkLiveFirst, readCloud, readGatewayOutbox, uplinkTuning } from './support/switchover-checks.ts';

const root = mkdtempSync(join(tmpdir(), 'weir-switchover-'));
// WEIR_KEEP_TEST_DIRS=1 keeps the work dirs (logs, databases) for a look after a failure.
after(() => (process.env.WEIR_KEEP_TEST_DIRS ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true })));

const MAX_RECORDS = 20;
const tuning = uplinkTuning();

/** A stack under load with a FaultProxy on its uplink. */
async function loadedStack(name: string, seed: number, cloud: Record<string, unknown> = {}): Promise<{ stack: Stack; proxy: () => FaultProxy }> {
  let proxy: FaultProxy | null = null;
  const stack = await Stack.start({
    dir: join(root, name),
    sim: {
      devices: { 'env-sensor': 8, vibration: 2, 'power-meter': 2 },
      timeScale: 60,
      seed,
      faultRate: 400,
      faultKinds: ['spike', 'level_shift', 'stuck', 'noise_burst', 'out_of_range'],
    },
    checkpointInterval: '250ms',
    cloud: {
      batch: { maxRecords: MAX_RECORDS, maxAge: '200ms' },
      heartbeat: '1s',
      poll: '250ms',
      ...cloud,
      ...tuning.cloud,
    },
    uplinkVia: async (cloud) => (proxy = await FaultProxy.start(cloud)).port,
  });
  return { stack, proxy: () => proxy! };
}

async function finish(stack: Stack, proxy: FaultProxy): Promise<ReturnType<typeof checkExactlyOnce>> {
  proxy.stopFlapping();
  proxy.setMode('pass');
  const report = await stack.stop({ drainMs: 30_000 });
  await proxy.close();
  assert.equal(report.gateway.code, 0, `gateway exit ${JSON.stringify(report.gateway)}`);
  assert.equal(report.cloud.code, 0, `cloud exit ${JSON.stringify(report.cloud)}`);
  return checkExactlyOnce(readCloud(stack.files.cloudDb, stack.gatewayId), await readGatewayOutbox(stack.files.gatewayDb));
}

const outboxRows = (stack: Stack) => stack.metrics().then((m) => ({ total: m.sum('weir_outbox_rows'), anomalies: m.sum('weir_outbox_rows', { priority: 'anomaly' }) }));

test('cut under load, then restored: every row exactly once, anomalies ahead of the backlog', { timeout: 150_000 }, async (t) => {
  // The backlog (replayed rows) is paced so that its drain takes a few seconds and live anomalies can overtake it.
  const { stack, proxy } = await loadedStack('cut', 11, { backlogBandwidth: '3KB' });
  try {
    // Warm: results flow to the cloud.
    await stack.until(async () => (await stack.cloudGateway()).contiguousSeq >= MAX_RECORDS, { timeoutMs: 60_000, what: 'the first results in the cloud' });

    const failed = stack.gateway.mark();
    proxy().setMode('cut');
    await stack.gateway.waitFor((l) => l.msg === 'uplink: request failed; retrying', { after: failed, timeoutMs: 30_000 });
    // Down until the backlog spans several batches and holds anomalies.
    const queued = await stack.until(async () => {
      const o = await outboxRows(stack);
      return o.total >= 6 * MAX_RECORDS && o.anomalies >= 3 ? o : null;
    }, { timeoutMs: 60_000, what: 'a backlog of several batches with anomalies' });
    const before = await stack.metrics();
    proxy().setMode('pass');

    // Back online: the cloud catches up while the simulator keeps the load on.
    await stack.until(async () => (await outboxRows(stack)).total < MAX_RECORDS, { timeoutMs: 30_000 + tuning.backoffMaxMs, what: 'the backlog to drain' });
    const during = await stack.metrics();
    assert.ok(during.sum('weir_windows_total') > before.sum('weir_windows_total'), 'windows kept firing');

    const d = await finish(stack, proxy());
    const live = checkLiveFirst(readCloud(stack.files.cloudDb, stack.gatewayId), { maxRecords: MAX_RECORDS });
    // Up to maxInFlight (2) batches may have been stored just before the cut, their acks lost: not backlog.
    assert.ok(live.backlog >= queued.total - 2 * MAX_RECORDS, `backlog ${live.backlog} < ${queued.total} rows queued during the cut`);
    t.diagnostic(`delivery ${JSON.stringify(d)}; live first ${JSON.stringify(live)}; queued at restore ${JSON.stringify(queued)}`);
    assert.ok(live.backlogAnomalies >= 1 && live.overtaking >= 1, `anomalies overtook the backlog: ${JSON.stringify(live)}`);
    assert.ok(live.liveDuringDrain >= 1, `anomalies made while the backlog drained went ahead of it: ${JSON.stringify(live)}`);
    assert.ok(d.byKind.anomaly! >= queued.anomalies && d.byKind.window! > 0, JSON.stringify(d));
  } finally {
    await stack.stop({ drainMs: 0 });
  }
});

test('blackhole, then flapping cut/pass/blackhole: no hang, no loss, no duplicate', { timeout: 240_000 }, async (t) => {
  const { stack, proxy } = await loadedStack('flap', 12);
  try {
    await stack.until(async () => (await stack.cloudGateway()).contiguousSeq >= MAX_RECORDS, { timeoutMs: 60_000, what: 'the first results in the cloud' });
    const readings0 = (await stack.metrics()).sum('weir_ingest_readings_total');

    // Blackhole: requests vanish, nothing is refused; the gateway keeps processing and queueing.
    proxy().setMode('blackhole');
    await stack.until(async () => ((await outboxRows(stack)).total >= 4 * MAX_RECORDS ? true : null), { timeoutMs: 60_000, what: 'rows queued behind the blackhole' });
    const m1 = await stack.metrics();
    assert.ok(m1.sum('weir_ingest_readings_total') > readings0, 'ingest went on while the uplink was blackholed');

    // Flapping: the schedule is the fault.
    const steps: { mode: ProxyMode; ms: number }[] = [
      { mode: 'cut', ms: 500 }, { mode: 'pass', ms: 700 }, { mode: 'blackhole', ms: 600 }, { mode: 'cut', ms: 300 },
      { mode: 'pass', ms: 400 }, { mode: 'cut', ms: 600 }, { mode: 'pass', ms: 900 }, { mode: 'blackhole', ms: 800 }, { mode: 'pass', ms: 500 },
    ];
    for (const s of steps) {
      proxy().setMode(s.mode);
      await new Promise((r) => setTimeout(r, s.ms));
    }
    // Last, a blackhole straight into pass while rows are queued: the request swallowed by the blackhole
    // gets no answer and no reset, so only the uplink's own deadline can free it.
    proxy().setMode('blackhole');
    await stack.until(async () => ((await outboxRows(stack)).total >= 3 * MAX_RECORDS ? true : null), { timeoutMs: 60_000, what: 'rows queued behind the last blackhole' });
    const seqAtBack = (await stack.cloudGateway()).contiguousSeq;
    proxy().setMode('pass');
    const backAt = Date.now();
    const bound = tuning.responseMs + tuning.backoffMaxMs + 10_000;
    await stack.until(async () => (await stack.cloudGateway()).contiguousSeq > seqAtBack, { timeoutMs: bound, intervalMs: 100, what: 'the uplink to recover after the link came back' });
    const recoveredMs = Date.now() - backAt;
    await stack.until(async () => ((await outboxRows(stack)).total < MAX_RECORDS ? true : null), { timeoutMs: 60_000, what: 'the backlog to drain' });

    const d = await finish(stack, proxy());
    assert.ok(d.inCloud > 4 * MAX_RECORDS, JSON.stringify(d));
    t.diagnostic(`delivery ${JSON.stringify(d)}; first ack ${recoveredMs} ms after the link came back (bound ${bound} ms)`);
  } finally {
    await stack.stop({ drainMs: 0 });
  }
});
