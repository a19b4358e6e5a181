/**
 * npm run verify:arm64 | verify:armv7l   (not part of CI: minutes, and it installs tools)
 *
 *   node --import tsx scripts/verify-arch.ts --arch arm64|armv7l|x64 [--with-node] [--keep]
 *     [--footprint [--load-seconds 20] [--load-devices 10000] [--load-pipelines bench|default] [--load-rate MSG_PER_S]]
 *
 * Builds the release tarball for the architecture (dist/weir-<v>-linux-<arch>.tar.gz,
 * cross-compiling the SQLite binding), then runs the release smoke test
 * (scripts/package-smoke.ts) with that architecture's official Node.js from
 * the npm registry (node-linux-<arch>) under qemu user-mode emulation —
 * `qemu-aarch64-static -L /usr/aarch64-linux-gnu`, called directly, as binfmt
 * is not available here. MQTT readings come from this (host) process over
 * 127.0.0.1. Missing Debian packages (cross g++, qemu-user-static) are
 * installed with apt-get, saying so. Emulation is 10–13× slower than native:
 * the smoke test is short and its timeouts are scaled.
 *
 * --footprint (meaningful natively: --arch x64 on this machine) also measures
 * the installed gateway's RSS at idle and under the ingest benchmark's load
 * (its publishers, edge-runtime/bench/ingest/bench-publisher.ts: 10,000
 * devices × 3 metrics, QoS 0, as fast as the broker takes them), with the
 * packaged gateway.yaml and the systemd unit's NODE_OPTIONS, running the
 * benchmark's pipeline (bench) or the packaged pipeline.yaml (default).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ARCHES, ARCH_INFO, ensureTools, hostArch, nodeDist, type Arch, type Log } from './package-native.ts';
import { buildPackage } from './package.ts';
import { runSmoke } from './package-smoke.ts';
import { WEIR_MALLOC_ENV, publishers } from '../edge-runtime/bench/ingest/bench-procs.ts';

const log: Log = (l) => void process.stderr.write(`verify: ${l}\n`);
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** A node for `arch` that this machine can run: itself natively, else the registry build under qemu. */
function nodeFor(arch: Arch, work: string, withNode: boolean): { node: string | undefined; emulated: boolean } {
  // Natively, a release built --with-node runs its own node (WEIR_NODE unset).
  if (arch === hostArch()) return { node: withNode ? undefined : process.execPath, emulated: false };
  const info = ARCH_INFO[arch];
  ensureTools([
    { cmd: info.qemu, pkg: 'qemu-user-static' },
    // Its libc and libstdc++ (the -L sysroot) come with the cross compiler's dependencies.
    { cmd: `${info.triple}-g++`, pkg: info.gxxPackage },
  ], `running linux-${arch} binaries under emulation`, log);
  const dist = nodeDist(arch, log);
  const shim = join(work, `node-${arch}`);
  writeFileSync(shim, `#!/bin/sh\n# linux-${arch} Node.js ${dist.version} under qemu user-mode emulation\nexec ${info.qemu} -L ${info.sysroot} ${dist.bin} "$@"\n`);
  chmodSync(shim, 0o755);
  return { node: shim, emulated: true };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out }));
  });
}

function procRss(pid: number): { rss: number; hwm: number } {
  let s = '';
  try {
    s = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // exited: the caller learns it from the exit event
  }
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

/** RSS of the installed gateway at idle and under the ingest benchmark's publishers. */
async function footprint(tarball: string, node: string | undefined, o: { seconds: number; devices: number; pipelines: 'bench' | 'default'; rate: number }): Promise<Record<string, string | number>> {
  const { seconds: loadSeconds, devices, pipelines, rate } = o;
  const work = mkdtempSync(join(tmpdir(), 'weir-footprint-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=128', ...WEIR_MALLOC_ENV };
    if (node !== undefined) env.WEIR_NODE = node;
    else delete env.WEIR_NODE;
    const root = join(work, 'root');
    let r = await run('sh', ['-c', 'mkdir -p "$1/u" && tar xzf "$2" -C "$1/u" && "$1"/u/*/install.sh --root "$1/root"', 'sh', work, tarball], env);
    if (r.code !== 0) throw new Error(`install failed: ${r.out}`);
    // The packaged defaults, but ephemeral ports, a temporary state dir, and anonymous devices (the publishers' 10,000 ids).
    const cfg = readFileSync(join(root, 'etc/weir/gateway.yaml'), 'utf8')
      .replace('stateDir: /var/lib/weir', `stateDir: ${join(root, 'var/lib/weir')}`)
      .replace(/http:\n  host: 127.0.0.1 *(#.*)?\n  port: 9464/, 'http:\n  host: 127.0.0.1\n  port: 0')
      .replace(/mqtt:\n  embedded:\n(    .*\n)+/, 'mqtt:\n  embedded: { host: 127.0.0.1, port: 0, auth: anonymous }\n');
    if (!cfg.includes('port: 0\n') || !cfg.includes('auth: anonymous')) throw new Error(`could not adapt the default config:\n${cfg}`);
    // `bench`: the ingest benchmark's own pipeline (10 s tumbling mean per device and metric), as
    // `npm run bench:ingest` measures it; `default`: the packaged pipeline.yaml.
    writeFileSync(join(root, 'etc/weir/bench-pipeline.yaml'),
      'pipelines:\n  - name: mean-10s\n    watermark: { maxOutOfOrder: 2s }\n    keyBy: [deviceId, metric]\n    window: { type: tumbling, size: 10s }\n    aggregates: [mean]\n');
    writeFileSync(join(root, 'etc/weir/load.yaml'), pipelines === 'bench' ? cfg.replace('  - pipeline.yaml ', '  - bench-pipeline.yaml ') : cfg);
    const child = spawn(join(root, 'usr/local/bin/weir'), ['run', '--config', join(root, 'etc/weir/load.yaml')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let mqttPort = 0;
    let httpPort = 0;
    const lines: string[] = [];
    let exit: string | null = null;
    const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => {
      exit = `weir exited (${code ?? signal})`;
      resolve();
    }));
    createInterface({ input: child.stderr }).on('line', (l) => {
      lines.push(l);
      if (lines.length > 50) lines.shift();
    });
    const tail = (): string => lines.filter((l) => !l.includes('"debug"')).slice(-15).join('\n');
    await new Promise<void>((resolve, reject) => {
      void exited.then(() => reject(new Error(`${exit} before it started:\n${tail()}`)));
      createInterface({ input: child.stderr }).on('line', (l) => {
        const o = l.startsWith('{') ? (JSON.parse(l) as { msg: string; tcp?: number; port?: number }) : null;
        if (o?.msg === 'mqtt broker listening' && o.tcp) mqttPort = o.tcp;
        if (o?.msg === 'http listening' && o.port) httpPort = o.port;
        if (o?.msg === 'gateway started') resolve();
      });
    });
    try {
      // Idle: a few checkpoints after start, nothing arriving.
      const c0 = await metric(httpPort, 'weir_checkpoints_total');
      while ((await metric(httpPort, 'weir_checkpoints_total')) < c0 + 5) await new Promise((res) => setTimeout(res, 250));
      const idle = procRss(child.pid!);
      // rate 0: as fast as the broker takes them (the benchmark's saturation); else messages/s in all (3 readings each).
      const pubs = publishers(2, `mqtt://127.0.0.1:${mqttPort}`, devices, ['--connections', '4', '--qos', '0', ...(rate > 0 ? ['--rate', String(Math.ceil(rate / 2))] : [])]);
      const r0 = await metric(httpPort, 'weir_ingest_readings_total{transport="mqtt"}');
      const t0 = performance.now();
      let peak = 0;
      while (performance.now() - t0 < loadSeconds * 1000 && exit === null) {
        await new Promise((res) => setTimeout(res, 500));
        if (exit === null) peak = Math.max(peak, procRss(child.pid!).rss);
      }
      if (exit !== null) {
        await Promise.all(pubs.map((p) => p.stop()));
        throw new Error(`${exit} under load after ${Math.round(performance.now() - t0)} ms (peak RSS ${mb(peak)}):\n${tail()}`);
      }
      const r1 = await metric(httpPort, 'weir_ingest_readings_total{transport="mqtt"}');
      const secs = (performance.now() - t0) / 1000;
      await Promise.all(pubs.map((p) => p.stop()));
      const hwm = procRss(child.pid!).hwm;
      return {
        idleRss: mb(idle.rss),
        loadPeakRss: mb(Math.max(peak, hwm)),
        pipelines,
        devices,
        offeredMessagesPerSec: rate > 0 ? rate : 'saturation',
        loadSeconds: Math.round(secs),
        readingsPerSec: Math.round((r1 - r0) / secs),
        nodeOptions: env.NODE_OPTIONS!,
      };
    } finally {
      if (exit === null) child.kill('SIGTERM');
      await exited;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'with-node': { type: 'boolean', default: false },
      footprint: { type: 'boolean', default: false },
      'load-seconds': { type: 'string', default: '20' },
      'load-devices': { type: 'string', default: '10000' },
      'load-pipelines': { type: 'string', default: 'bench' },
      'load-rate': { type: 'string', default: '0' },
    },
    strict: true,
  });
  const arch = values.arch as Arch;
  if (!ARCHES.includes(arch)) throw new Error(`--arch must be one of ${ARCHES.join(', ')}`);
  const t0 = performance.now();
  const pkg = await buildPackage({ arch, log, withNode: values['with-node'] });
  const work = mkdtempSync(join(tmpdir(), `weir-verify-${arch}-`));
  try {
    if (values['with-node']) {
      const r = await run('sh', ['-c', 'mkdir -p "$1" && tar xzf "$2" -C "$1"', 'sh', join(work, 'probe'), pkg.tarball]);
      if (r.code !== 0) throw new Error(r.out);
    }
    const { node, emulated } = nodeFor(arch, work, values['with-node']);
    const probe = await run(node ?? join(work, 'probe', pkg.name, 'node', 'bin', 'node'), ['-p', 'process.arch + " " + process.version + " " + process.versions.modules']);
    log(`node for ${arch}: ${probe.out.trim()}${emulated ? ` (qemu: ${ARCH_INFO[arch].qemu} -L ${ARCH_INFO[arch].sysroot})` : ''}`);
    if (probe.code !== 0) throw new Error(`cannot run node for ${arch}: ${probe.out}`);
    if (probe.out.trim().split(' ')[2] !== pkg.build.node_abi) throw new Error(`node ABI ${probe.out.trim()} ≠ the addon's ${pkg.build.node_abi}`);
    const smoke = await runSmoke({ tarball: pkg.tarball, node, slowdown: emulated ? 15 : 1, log, keep: values.keep });
    const summary: Record<string, unknown> = {
      arch,
      tarball: pkg.tarball,
      tarballSize: mb(pkg.tarballBytes),
      installedSize: mb(smoke.installedBytes),
      idleRss: mb(smoke.idleRssBytes) + (emulated ? ' (under qemu: includes the emulator, not a board figure)' : ''),
      windowsExactlyOnce: smoke.windows,
      recoveredFromCheckpoint: smoke.recoveredFromCheckpoint,
      smokeSeconds: smoke.seconds,
      totalSeconds: Math.round((performance.now() - t0) / 1000),
    };
    if (values.footprint) {
      const pipelines = values['load-pipelines'] === 'default' ? 'default' : 'bench';
      summary.footprint = await footprint(pkg.tarball, node, { seconds: Number(values['load-seconds']), devices: Number(values['load-devices']), pipelines, rate: Number(values['load-rate']) });
    }
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    log(`linux-${arch}: OK`);
  } finally {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) log(`kept ${work}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`verify: FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});

