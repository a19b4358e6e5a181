/**
 * npm run bench:peer-nodered [-- --devices 10000 --step 5 --settle 2 --warmup 10 --publishers 2
 *                                 --rates 5000,10000,... --keep 0.95 --nodered-dir DIR --node-flags "..." --malloc-arena-max N --malloc-mmap-threshold N --prebuilt DIR]
 *
 * What gateway users pick instead of weir, doing the same work on the same
 * machine in the same run: Node-RED 4 (installed into a temporary folder with
 * `npm install node-red@4 --prefix TMP`; never a dependency of weir) runs
 * mqtt in → json → a function node keeping a per-device 10 s mean → mqtt out,
 * subscribed to a private Mosquitto on 127.0.0.1 (a free port); weir (bundled,
 * plain node) takes the same publishers directly on its embedded broker →
 * decode → durable log (synchronous FULL) → 10 s tumbling mean per device →
 * checkpoint + outbox every second (exactly-once: state, offset and outbox
 * rows in one transaction).
 *
 * The offered rate rises step by step (readings/s, one reading per message,
 * 10,000 devices round robin, QoS 0, mqtt.js publishers in child processes);
 * a system keeps up at a step when it processed at least `keep` of what was
 * actually sent during the step (each system first gets `warmup` seconds at the
 * first step's rate, not counted: without it, whichever system ran first lost
 * its first steps to a cold JIT). Sustained = the processed rate of the last
 * step it kept up with. RSS = the largest VmRSS sampled during that step;
 * idle RSS (before the ramp) and the overall peak (VmHWM, overloaded step
 * included) are reported too.
 *
 * Final stdout line: BENCH {nodeRedSustained, weirSustained, nodeRedRssMb, weirRssMb, ...}.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { arg, benchLine, round } from './bench-util.ts';
import { Publisher, Target, publishers, rssOf, sleep, useBundle, useWeirMalloc } from './ingest/bench-procs.ts';
import { bundleTarget } from './ingest/bundle-target.ts';
import { noderedFlow, noderedSettings } from './ingest/nodered-flow.ts';

const devices = arg('devices', 10_000);
const stepSec = arg('step', 5);
const settleSec = arg('settle', 2);
/** Seconds at the first step's rate before the ramp, not counted, for both systems (JIT, caches). */
const warmupSec = arg('warmup', 10);
const nPub = arg('publishers', 2);
const keep = arg('keep', 0.95);
const opt = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] ?? def : def;
};
const rates = opt('rates', '5000,10000,15000,20000,25000,30000,35000,40000,45000,50000,60000,70000,80000,100000,130000,160000').split(',').map(Number);
const nodeFlags = opt('node-flags', '--max-semi-space-size=2 --max-old-space-size=96').split(' ').filter((f) => f !== '');
/** glibc malloc settings of weir's processes, as weir's systemd unit sets them (see useWeirMalloc). */
const malloc = useWeirMalloc(opt);
const log = (s: string): boolean => process.stderr.write(s + '\n');
const TOPIC = 'weir/+/telemetry';

const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'weir-peer-nodered-'));
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true }); // a --nodered-dir given by the user lives elsewhere and is kept
});

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function fail(what: string, detail: string): never {
  log(`peer-nodered: ${what}: ${detail}`);
  benchLine({ nodeRedSustained: null, weirSustained: null, nodeRedRssMb: null, weirRssMb: null, error: `${what}: ${detail}` });
  process.exit(1);
}

/** Node-RED 4 into a temporary prefix (or a given one that already has it). */
function installNodeRed(): { dir: string; version: string; seconds: number } {
  const dir = opt('nodered-dir', join(tmp, 'nodered'));
  const red = join(dir, 'node_modules', 'node-red', 'red.js');
  const t0 = performance.now();
  if (!existsSync(red)) {
    log(`installing node-red@4 into ${dir} (npm install --prefix) ...`);
    const r = spawnSync('npm', ['install', 'node-red@4', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error'], { encoding: 'utf8', timeout: 600_000 });
    if (r.error !== undefined || r.status !== 0 || !existsSync(red)) {
      fail('npm install node-red@4 failed', `${r.error?.message ?? `exit ${r.status}`}\n${(r.stderr ?? '').slice(-2000)}`);
    }
  }
  const version = (JSON.parse(spawnSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(join(dir, 'node_modules', 'node-red', 'package.json'))}).version)`], { encoding: 'utf8' }).stdout) as string);
  return { dir, version, seconds: round((performance.now() - t0) / 1000, 1) };
}

async function startMosquitto(): Promise<number> {
  const port = await freePort();
  const conf = join(tmp, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const c = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  children.push(c);
  c.on('error', (e) => fail('mosquitto could not start', e.message));
  for (let i = 0; ; i++) {
    try {
      const probe = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
      await probe.endAsync();
      return port;
    } catch (e) {
      if (i > 50) fail('mosquitto did not come up', (e as Error).message);
      await sleep(100);
    }
  }
}

async function startNodeRed(dir: string, brokerPort: number): Promise<ChildProcess> {
  const userDir = join(tmp, 'nodered-user');
  const flowFile = join(userDir, 'flows.json');
  rmSync(userDir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', userDir]);
  writeFileSync(flowFile, JSON.stringify(noderedFlow(brokerPort, TOPIC)));
  writeFileSync(join(userDir, 'settings.js'), noderedSettings(userDir, flowFile, await freePort()));
  const c = spawn(process.execPath, [join(dir, 'node_modules', 'node-red', 'red.js'), '--settings', join(userDir, 'settings.js'), '--userDir', userDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let started = false;
  let connected = false;
  const lines: string[] = [];
  for (const s of [c.stdout!, c.stderr!]) {
    createInterface({ input: s }).on('line', (l) => {
      lines.push(l);
      if (/Started flows/.test(l)) started = true;
      if (/Connected to broker/.test(l)) connected = true;
    });
  }
  const t0 = performance.now();
  while (!(started && connected)) {
    if (c.exitCode !== null || performance.now() - t0 > 60_000) fail('Node-RED did not start', lines.slice(-20).join('\n'));
    await sleep(100);
  }
  return c;
}

interface Step {
  readonly rate: number;
  readonly sent: number;
  readonly processed: number;
  readonly keptUp: boolean;
  readonly rssMb: number;
}

/** Waits until the processed count stops moving (any backlog drained). */
async function drained(processed: () => number): Promise<void> {
  let last = -1;
  while (processed() !== last) {
    last = processed();
    await sleep(300);
  }
}

/** Runs the ramp against one system; `processed()` reads its running count, `pid` its process. */
async function ramp(name: string, url: string, processed: () => number, pid: number): Promise<{ steps: Step[]; sustained: number; rssMb: number; idleRssMb: number; peakRssMb: number }> {
  const steps: Step[] = [];
  const idle = rssOf(pid).rss;
  let sustained = 0;
  let rssAtSustained = idle;
  if (warmupSec > 0) {
    const pubs: Publisher[] = publishers(nPub, url, devices, ['--connections', '2', '--qos', '0', '--metrics', '1', '--rate', String(Math.ceil(rates[0]! / nPub))]);
    await sleep(warmupSec * 1000);
    await Promise.all(pubs.map((p) => p.stop()));
    await drained(processed);
    log(`${name}: warmed up for ${warmupSec} s at ${rates[0]}/s`);
  }
  for (const rate of rates) {
    const pubs: Publisher[] = publishers(nPub, url, devices, ['--connections', '2', '--qos', '0', '--metrics', '1', '--rate', String(Math.ceil(rate / nPub))]);
    await sleep(settleSec * 1000);
    const s0 = pubs.reduce((a, p) => a + p.sent, 0);
    const p0 = processed();
    let rss = 0;
    for (let i = 0; i < stepSec * 2; i++) {
      await sleep(500);
      rss = Math.max(rss, rssOf(pid).rss);
    }
    const sent = pubs.reduce((a, p) => a + p.sent, 0) - s0;
    const got = processed() - p0;
    await Promise.all(pubs.map((p) => p.stop()));
    const step: Step = { rate: Math.round(sent / stepSec), sent, processed: Math.round(got / stepSec), keptUp: got >= keep * sent && sent >= 0.9 * rate * stepSec, rssMb: round(rss, 1) };
    steps.push(step);
    log(`${name} @${rate}/s: sent ${step.rate}/s, processed ${step.processed}/s, rss ${step.rssMb} MB${step.keptUp ? '' : ' — did not keep up'}`);
    if (!step.keptUp) break;
    sustained = step.processed;
    rssAtSustained = step.rssMb;
    await drained(processed);
  }
  return { steps, sustained, rssMb: rssAtSustained, idleRssMb: round(idle, 1), peakRssMb: round(rssOf(pid).hwm, 1) };
}

// ---- Node-RED ----
const nr = installNodeRed();
log(`node-red ${nr.version} ready (${nr.seconds} s)`);
const brokerPort = await startMosquitto();
const red = await startNodeRed(nr.dir, brokerPort);
const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { clientId: 'peer-bench-watch', reconnectPeriod: 0 });
let nrCount = 0;
watcher.on('message', (_t, p) => (nrCount = Math.max(nrCount, Number(p.toString()))));
await watcher.subscribeAsync('nr-bench/stats', { qos: 0 });
const nodeRed = await ramp('node-red', `mqtt://127.0.0.1:${brokerPort}`, () => nrCount, red.pid!);
await watcher.endAsync();
red.kill('SIGTERM');
await once(red, 'exit');

// ---- weir ----
// `--prebuilt DIR`: a bundle built earlier (bench-target.mjs + storage-worker.mjs), for an A/B against older code.
const prebuilt = opt('prebuilt', '');
useBundle(prebuilt !== '' ? { target: join(prebuilt, 'bench-target.mjs'), worker: join(prebuilt, 'storage-worker.mjs') } : await bundleTarget());
const target = await Target.start('weir', ['--synchronous', 'FULL'], nodeFlags);
const weir = await ramp('weir', target.url, () => target.stats.readings ?? 0, target.proc.pid!);
const final = await target.stop();

benchLine({
  ...malloc,
  nodeRedSustained: nodeRed.sustained,
  weirSustained: weir.sustained,
  ratio: nodeRed.sustained > 0 ? round(weir.sustained / nodeRed.sustained, 2) : null,
  nodeRedRssMb: nodeRed.rssMb,
  weirRssMb: weir.rssMb,
  nodeRedIdleRssMb: nodeRed.idleRssMb,
  weirIdleRssMb: weir.idleRssMb,
  nodeRedPeakRssMb: nodeRed.peakRssMb,
  weirPeakRssMb: weir.peakRssMb,
  nodeRedVersion: nr.version,
  nodeRedInstallSec: nr.seconds,
  weirDurability: 'synchronous FULL, checkpoint every 1 s',
  weirNodeFlags: nodeFlags.join(' '),
  weirQuarantined: final.quarantined ?? null,
  devices,
  stepSec,
  warmupSec,
  keep,
  steps: { nodeRed: nodeRed.steps, weir: weir.steps },
  node: process.version,
});
process.exit(0);
