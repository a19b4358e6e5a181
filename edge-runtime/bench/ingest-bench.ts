/**
 * npm run bench:ingest [-- --devices 10000 --seconds 8 --warmup 3 --rounds 2 --publishers 2 --connections 4
 *                          --synchronous FULL|NORMAL --dedup-window N --latency-share 0.5 --node-flags "..." --malloc-arena-max N --malloc-mmap-threshold N --tsx
 *                          --target-args "--pending N --batch N --checkpoint-ms N --checkpoint-max-rows N"
 *                          --qos 0,1 --prebuilt DIR --weir-only]
 *
 * MQTT ingest, all on 127.0.0.1, in one run, publishers and the process under
 * test each a child process (so the gateway's RSS and CPU are its own):
 *
 *  (a) raw ceiling: the same publishers into a bare aedes broker whose
 *      in-process subscriber only parses the JSON (rawCeilingQos0/1);
 *  (b) weir end to end: into weir's embedded broker → decode (devices/ codec
 *      + profile checks) → durable log (group commit, WorkerStateStore,
 *      synchronous FULL by default) → a 10 s tumbling mean per device and
 *      metric over 10,000 devices → checkpoint with outbox rows, every second
 *      (weirQos0/1). At QoS 1 a PUBACK leaves only once the reading is durable.
 *
 * Publishers (mqtt.js 3.1.1) send as fast as the broker takes them; readings
 * per second are counted at the consumer (parsed in (a), durable in (b)) over
 * `seconds` after `warmup`. Each message is one device's flat JSON sample
 * with 3 metrics (≈90 B), devices round robin.
 *
 * `--qos 0` (or `1`) runs only that QoS's pair of phases, for a quick A/B.
 *
 * Latency: a separate run of (b) at a fixed offered rate (latencyShare of
 * weirQos0, QoS 0; `--latency-share 0` skips it): p99 from publish (the payload's `ts`, wall clock) to the
 * checkpoint commit that covers the reading (p99LatencyMs), and to its log
 * append resolving (p99DurableMs).
 *
 * peakRssMb: the largest VmHWM of the weir process over its runs.
 *
 * Both targets run as weir ships (bundled by rollup with the repository's
 * rollup.config.mjs, plain `node`, no tsx: the TypeScript loader alone adds
 * ≈50 MB of RSS), with the same V8 flags (default `--max-semi-space-size=2
 * --max-old-space-size=96`, the heap cap a gateway would run with; `--node-flags ""`
 * for V8's defaults). The machine is shared, so raw and weir runs alternate,
 * `rounds` times, and each figure is the median of its rounds.
 */
import { join } from 'node:path';
import { arg, benchLine, median, round } from './bench-util.ts';
import { Publisher, Target, cpuSec, publishers, rssOf, sleep, useBundle, useWeirMalloc } from './ingest/bench-procs.ts';
import { bundleTarget } from './ingest/bundle-target.ts';

const devices = arg('devices', 10_000);
const seconds = arg('seconds', 8);
const warmup = arg('warmup', 3);
const nPub = arg('publishers', 2);
const connections = arg('connections', 4);
const latencyShare = arg('latency-share', 0.5);
const rounds = arg('rounds', 2);
const opt = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] ?? def : def;
};
const synchronous = opt('synchronous', 'FULL');
const dedupWindow = opt('dedup-window', '131072');
const nodeFlags = opt('node-flags', '--max-semi-space-size=2 --max-old-space-size=96').split(' ').filter((f) => f !== '');
/** glibc malloc settings of weir's processes, as weir's systemd unit sets them (see useWeirMalloc). */
const malloc = useWeirMalloc(opt);
const qosList = opt('qos', '0,1').split(',');
/** Extra arguments for the weir target (ingest/bench-target.ts), e.g. "--pending 100000" for an A/B run. */
const targetArgs = opt('target-args', '').split(' ').filter((a) => a !== '');
/** `--weir-only`: skip the raw ceiling (quick A/B of weir alone; the ratios are then null). */
const weirOnly = process.argv.includes('--weir-only');
const withQos0 = qosList.includes('0');
const withQos1 = qosList.includes('1');
const log = (s: string): boolean => process.stderr.write(s + '\n');
/** `--prebuilt DIR`: use a bundle built earlier (bench-target.mjs + storage-worker.mjs in DIR, under node_modules) for an A/B against older code. */
const prebuilt = opt('prebuilt', '');
if (prebuilt !== '') {
  useBundle({ target: join(prebuilt, 'bench-target.mjs'), worker: join(prebuilt, 'storage-worker.mjs') });
} else if (!process.argv.includes('--tsx')) {
  const t0 = performance.now();
  useBundle(await bundleTarget());
  log(`bundled the target in ${Math.round(performance.now() - t0)} ms`);
}

interface PhaseResult {
  readingsPerSec: number;
  cpuTargetPct: number;
  cpuPublishersPct: number;
  final: Record<string, number | null>;
  hwmMb: number;
  rssMedianMb: number;
}

async function phase(mode: 'raw' | 'weir', qos: 0 | 1, rate = 0): Promise<PhaseResult> {
  const target = await Target.start(mode, mode === 'weir' ? ['--synchronous', synchronous, '--dedup-window', dedupWindow, ...targetArgs] : [], nodeFlags);
  const pubArgs = ['--connections', String(connections), '--qos', String(qos), ...(rate > 0 ? ['--rate', String(Math.ceil(rate / 3 / nPub))] : [])];
  const pubs: Publisher[] = publishers(nPub, target.url, devices, pubArgs);
  const t0 = performance.now();
  while ((target.stats.readings ?? 0) === 0) {
    if (performance.now() - t0 > 60_000) throw new Error(`${mode}: nothing arrived within 60 s`);
    await sleep(100);
  }
  await sleep(warmup * 1000);
  target.send('RESET');
  const r0 = target.stats.readings!;
  const w0 = performance.now();
  const c0 = { target: cpuSec(target.proc.pid!), pubs: pubs.reduce((a, p) => a + cpuSec(p.proc.pid!), 0) };
  // RSS sampled every 500 ms over the window (steadier for an A/B than the peak, which one GC can move).
  const rssSamples: number[] = [];
  for (const end = performance.now() + seconds * 1000; performance.now() < end;) {
    await sleep(Math.min(500, end - performance.now()));
    rssSamples.push(rssOf(target.proc.pid!).rss);
  }
  // STATS lines come every 500 ms: take the window between two of them.
  const r1 = target.stats.readings!;
  const dt = (performance.now() - w0) / 1000;
  const c1 = { target: cpuSec(target.proc.pid!), pubs: pubs.reduce((a, p) => a + cpuSec(p.proc.pid!), 0) };
  const hwmMb = rssOf(target.proc.pid!).hwm;
  await Promise.all(pubs.map((p) => p.stop()));
  const final = await target.stop();
  const res = {
    readingsPerSec: Math.round((r1 - r0) / dt),
    cpuTargetPct: Math.round(((c1.target - c0.target) / dt) * 100),
    cpuPublishersPct: Math.round(((c1.pubs - c0.pubs) / dt) * 100),
    final,
    hwmMb: round(Math.max(hwmMb, Number(final.hwm ?? 0)), 1),
    rssMedianMb: round(median(rssSamples), 1),
  };
  log(`${mode} qos${qos}${rate > 0 ? ` @${rate}/s` : ''}: ${res.readingsPerSec} readings/s, cpu target ${res.cpuTargetPct}% publishers ${res.cpuPublishersPct}%, peak rss ${res.hwmMb} MB, median rss ${res.rssMedianMb} MB ${JSON.stringify(final)}`);
  return res;
}

const runs: Record<'rawQ0' | 'weirQ0' | 'rawQ1' | 'weirQ1', PhaseResult[]> = { rawQ0: [], weirQ0: [], rawQ1: [], weirQ1: [] };
for (let r = 0; r < rounds; r++) {
  log(`round ${r + 1} of ${rounds}`);
  if (withQos0) {
    if (!weirOnly) runs.rawQ0.push(await phase('raw', 0));
    runs.weirQ0.push(await phase('weir', 0));
  }
  if (withQos1) {
    if (!weirOnly) runs.rawQ1.push(await phase('raw', 1));
    runs.weirQ1.push(await phase('weir', 1));
  }
}
const med = (xs: PhaseResult[]): number => Math.round(median(xs.map((x) => x.readingsPerSec)));
const cpu = (xs: PhaseResult[]): { target: number; publishers: number } => ({
  target: Math.round(median(xs.map((x) => x.cpuTargetPct))),
  publishers: Math.round(median(xs.map((x) => x.cpuPublishersPct))),
});
const rawQ0 = med(runs.rawQ0);
const weirQ0 = med(runs.weirQ0);
const rawQ1 = med(runs.rawQ1);
const weirQ1 = med(runs.weirQ1);
const latencyRate = withQos0 ? Math.round(weirQ0 * latencyShare) : 0;
const lat = latencyRate > 0 ? await phase('weir', 0, latencyRate) : null;
const weirHwm = [...runs.weirQ0, ...runs.weirQ1].map((x) => x.hwmMb);

benchLine({
  ...malloc,
  rawCeilingQos0: rawQ0,
  weirQos0: weirQ0,
  ratioQos0: round(weirQ0 / rawQ0, 3),
  rawCeilingQos1: rawQ1,
  weirQos1: weirQ1,
  ratioQos1: round(weirQ1 / rawQ1, 3),
  peakRssMb: Math.max(...weirHwm, lat?.hwmMb ?? 0),
  rssAtLatencyRateMb: lat?.hwmMb ?? null,
  p99LatencyMs: lat?.final.committedP99Ms ?? null,
  p50LatencyMs: lat?.final.committedP50Ms ?? null,
  p99DurableMs: lat?.final.durableP99Ms ?? null,
  p50DurableMs: lat?.final.durableP50Ms ?? null,
  latencyOfferedReadingsPerSec: latencyRate,
  latencyAchievedReadingsPerSec: lat?.readingsPerSec ?? null,
  devices,
  readingsPerMessage: 3,
  publishers: nPub,
  connectionsPerPublisher: connections,
  synchronous,
  nodeFlags: nodeFlags.join(' '),
  bundled: !process.argv.includes('--tsx'),
  rounds,
  windowSec: seconds,
  runs: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((x) => x.readingsPerSec)])),
  cpuPct: { rawQos0: cpu(runs.rawQ0), weirQos0: cpu(runs.weirQ0), rawQos1: cpu(runs.rawQ1), weirQos1: cpu(runs.weirQ1) },
  weirPeakRssMbByRun: weirHwm,
  weirMedianRssMbByRun: [...runs.weirQ0, ...runs.weirQ1].map((x) => x.rssMedianMb),
  node: process.version,
});
