/**
 * npm run soak:switchover [-- --minutes 10 --seed 1 --scale 60]
 *
 * The long version of test/switchover.test.ts: one stack (cloud, `weir
 * run`, `weir-sim` at --scale× simulated time) with a FaultProxy on the
 * uplink, for --minutes, cycling through seeded-random link faults with
 * quiet spells between them: cut, blackhole, flapping (cut/pass/blackhole),
 * added latency, a bandwidth cap. After every fault the link comes back and
 * the soak waits for the outbox to drain, timing the recovery. At the end:
 * simulator stopped, last upload, gateway stopped, and every committed row
 * must be in the cloud exactly once (test/support/switchover-checks.ts);
 * after each clean cut, anomalies must have overtaken the backlog.
 *
 * Prints progress on stderr, a summary, and a final line `SOAK {json}`.
 * Exits 1 when a check fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg } from '../../edge-runtime/bench/bench-util.ts';
import { Stack } from '../../edge-runtime/demo/stack.ts';
import { FaultProxy, type ProxyMode } from '../support/fault-proxy.ts';
import { checkExactlyOnce, checkLiveFirst, readCloud, readGatewayOutbox, uplinkTuning, type LiveFirst } from '../support/switchover-checks.ts';

const MINUTES = arg('minutes', 10);
const SCALE = arg('scale', 60);
let seed = arg('seed', 1) >>> 0 || 1;
const rnd = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};
const between = (lo: number, hi: number): number => Math.round(lo + rnd() * (hi - lo));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MAX_RECORDS = 50;
const tuning = uplinkTuning();

type FaultKind = 'cut' | 'blackhole' | 'flap' | 'latency' | 'bandwidth';
interface Phase {
  readonly kind: FaultKind;
  readonly ms: number;
  /** Link back → the cloud's contiguous seq moves again (the uplink did not hang). */
  readonly firstAckMs: number;
  /** Link back → the outbox drained (paced by backlogBandwidth). */
  readonly recoveredMs: number;
  readonly queued: number;
  readonly live?: LiveFirst;
}

const dir = mkdtempSync(join(tmpdir(), 'weir-soak-switchover-'));
let proxy: FaultProxy | null = null;
const t0 = Date.now();
const log = (m: string): void => void process.stderr.write(`soak ${String(Math.round((Date.now() - t0) / 1000)).padStart(5)}s  ${m}\n`);
let ok = false;
let stack: Stack | null = null;
try {
  stack = await Stack.start({
    dir,
    sim: {
      devices: { 'env-sensor': 20, vibration: 4, 'power-meter': 4 },
      timeScale: SCALE,
      seed: arg('seed', 1),
      faultRate: 300,
      faultKinds: ['spike', 'level_shift', 'stuck', 'noise_burst', 'out_of_range'],
    },
    checkpointInterval: '500ms',
    cloud: { batch: { maxRecords: MAX_RECORDS, maxAge: '500ms' }, heartbeat: '2s', poll: '500ms', backlogBandwidth: '8KB', ...tuning.cloud },
    uplinkVia: async (cloud) => (proxy = await FaultProxy.start(cloud)).port,
  });
  const s = stack;
  const p = (): FaultProxy => proxy!;
  log(`stack up in ${dir} (uplink timeouts ${tuning.responseMs} ms, backoff cap ${tuning.backoffMaxMs} ms)`);
  await s.until(async () => (await s.cloudGateway()).contiguousSeq > 0, { timeoutMs: 120_000, what: 'the first rows in the cloud' });
  const outbox = async (): Promise<number> => (await s.metrics()).sum('weir_outbox_rows');
  const phases: Phase[] = [];
  const end = t0 + MINUTES * 60_000;
  const liveChecks: { since: number; until: number }[] = [];
  while (Date.now() < end) {
    await sleep(between(3000, 15_000)); // a quiet spell: the load goes on, the link is fine
    const kinds: FaultKind[] = ['cut', 'blackhole', 'flap', 'latency', 'bandwidth'];
    const kind = kinds[Math.floor(rnd() * kinds.length)]!;
    const ms = between(2000, 20_000);
    const since = (await s.cloudGateway()).contiguousSeq;
    log(`${kind} for ${ms} ms`);
    switch (kind) {
      case 'cut':
      case 'blackhole':
        p().setMode(kind);
        await sleep(ms);
        break;
      case 'flap': {
        const modes: ProxyMode[] = ['cut', 'pass', 'blackhole'];
        for (let left = ms; left > 0;) {
          const step = Math.min(left, between(200, 2000));
          p().setMode(modes[Math.floor(rnd() * modes.length)]!);
          await sleep(step);
          left -= step;
        }
        break;
      }
      case 'latency':
        p().setLatency(between(50, 500));
        await sleep(ms);
        p().setLatency(0);
        break;
      case 'bandwidth':
        p().setBandwidth(between(1000, 8000));
        await sleep(ms);
        p().setBandwidth(0);
        break;
    }
    const queued = await outbox();
    const seqAtBack = (await s.cloudGateway()).contiguousSeq;
    p().setMode('pass');
    const back = Date.now();
    await s.until(async () => (await s.cloudGateway()).contiguousSeq > seqAtBack, {
      timeoutMs: tuning.responseMs + tuning.backoffMaxMs + 30_000, intervalMs: 100, what: `the uplink to come back after ${kind}`,
    });
    const firstAckMs = Date.now() - back;
    await s.until(async () => (await outbox()) < MAX_RECORDS, {
      timeoutMs: tuning.responseMs + tuning.backoffMaxMs + 120_000, intervalMs: 250, what: `the outbox to drain after ${kind}`,
    });
    const recoveredMs = Date.now() - back;
    if (kind === 'cut' && queued > 3 * MAX_RECORDS) liveChecks.push({ since, until: (await s.cloudGateway()).contiguousSeq });
    phases.push({ kind, ms, firstAckMs, recoveredMs, queued });
    log(`  back: ${queued} rows queued; first ack after ${firstAckMs} ms, drained after ${recoveredMs} ms`);
  }
  log('stopping: simulator, last upload, gateway, cloud');
  p().setMode('pass');
  const report = await s.stop({ drainMs: 60_000 });
  if (report.gateway.code !== 0 || report.cloud.code !== 0) throw new Error(`unclean stop: ${JSON.stringify(report)}`);
  const cloud = readCloud(s.files.cloudDb, s.gatewayId);
  const delivery = checkExactlyOnce(cloud, await readGatewayOutbox(s.files.gatewayDb));
  const lives = liveChecks.map((c) => checkLiveFirst(cloud, { maxRecords: MAX_RECORDS, sinceSeq: c.since, untilSeq: c.until }));
  const worst = (k: FaultKind, f: (x: Phase) => number): number | null => {
    const r = phases.filter((x) => x.kind === k).map(f);
    return r.length === 0 ? null : Math.max(...r);
  };
  const summary = {
    minutes: MINUTES, scale: SCALE, seed: arg('seed', 1), uplinkResponseTimeoutMs: tuning.responseMs,
    phases: phases.length, byKind: Object.fromEntries((['cut', 'blackhole', 'flap', 'latency', 'bandwidth'] as const).map((k) => [k, phases.filter((x) => x.kind === k).length])),
    worstFirstAckMs: Object.fromEntries((['cut', 'blackhole', 'flap', 'latency', 'bandwidth'] as const).map((k) => [k, worst(k, (x) => x.firstAckMs)])),
    worstDrainMs: Object.fromEntries((['cut', 'blackhole', 'flap', 'latency', 'bandwidth'] as const).map((k) => [k, worst(k, (x) => x.recoveredMs)])),
    delivery,
    liveFirst: { checkedCuts: lives.length, overtaking: lives.reduce((a, l) => a + l.overtaking, 0), backlogAnomalies: lives.reduce((a, l) => a + l.backlogAnomalies, 0) },
    proxy: proxy!.stats,
    wallS: Math.round((Date.now() - t0) / 1000),
  };
  process.stdout.write(`soak:switchover ok: ${phases.length} faults over ${MINUTES} min; ${delivery.inCloud} rows in the cloud exactly once ` +
    `(${delivery.leftInOutbox} left for the next start); worst first ack after the link came back ${Math.max(...phases.map((x) => x.firstAckMs), 0)} ms\n`);
  process.stdout.write(`SOAK ${JSON.stringify(summary)}\n`);
  ok = true;
} catch (e) {
  process.stderr.write(`soak:switchover FAILED: ${(e as Error).stack ?? String(e)}\n`);
  if (stack !== null) process.stderr.write(`${stack.diagnose()}\nwork dir kept: ${dir}\n`);
  process.exitCode = 1;
} finally {
  await stack?.stop({ drainMs: 0 }).catch(() => undefined);
  await (proxy as FaultProxy | null)?.close();
  if (ok) rmSync(dir, { recursive: true, force: true });
}
