/**
 * The smoke test of a release tarball, shared by test/package-x64.test.ts
 * (natively, in CI) and scripts/verify-arch.ts (arm64/armv7l under qemu):
 *
 *  1. unpack; install.sh --root into a temporary root; again (nothing
 *     changes, config and state kept); upgrade to a re-tagged copy with a
 *     newer state schema; --rollback is refused across it, --force does it;
 *  2. a bad config exits 2 naming the field;
 *  3. `weir device add` (through /usr/local/bin/weir → /opt/weir/current);
 *  4. `weir run`: an authenticated device publishes QoS 1 readings from this
 *     (host-side) process over 127.0.0.1; window results appear in /metrics;
 *     a checkpoint follows; RSS at idle is read;
 *  5. SIGKILL; restart: it recovers from the checkpoint; more readings;
 *     SIGTERM: exit 0;
 *  6. the outbox holds every expected window exactly once, seqs 1..n;
 *  7. a state file stamped with a newer schema is refused (non-zero exit,
 *     E_STATE_SCHEMA_NEWER) and left as it was.
 *
 * Waiting is on events (log lines, PUBACKs, process exits) and on /metrics
 * reaching a value, with timeouts scaled by `slowdown` for emulation.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { SCHEMA_VERSION } from '../edge-runtime/state/schema.ts';
import type { Log } from './package-native.ts';

export interface SmokeOptions {
  readonly tarball: string;
  /**
   * The node that runs the release (WEIR_NODE): a binary, or a script that starts one under qemu.
   * Absent: the release's own node/bin/node (built --with-node), else `node` on PATH.
   */
  readonly node?: string;
  /** Timeouts are multiplied by this (emulation is 10–13× slower than native). */
  readonly slowdown?: number;
  readonly log?: Log;
  /** Keep the temporary root (for looking around after a failure). */
  readonly keep?: boolean;
}

export interface SmokeResult {
  readonly root: string;
  /** RSS (VmRSS) of the gateway process after its first readings and checkpoints. */
  readonly idleRssBytes: number;
  /** Bytes of the installed release folder. */
  readonly installedBytes: number;
  readonly windows: number;
  readonly recoveredFromCheckpoint: number;
  readonly seconds: Record<string, number>;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Run extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

type LogLine = { msg?: string; [k: string]: unknown };

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MESSAGES_PER_PHASE = 16;
const STEP_MS = 250;
const DEVICE = 'env-0001';

/** Runs a command to its end. */
function runToEnd(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A running `weir run`, its JSON log lines collected from stderr. */
class GatewayProcess {
  readonly lines: LogLine[] = [];
  readonly other: string[] = [];
  readonly exited: Promise<Exit>;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stderr! }).on('line', (text) => {
      let l: LogLine;
      try {
        l = JSON.parse(text) as LogLine;
      } catch {
        this.other.push(text);
        return;
      }
      this.lines.push(l);
      this.waiters = this.waiters.filter((w) => (w.pred(l) ? (w.resolve(l), false) : true));
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first log line (past or future) matching `pred`; fails if the process exits first or on timeout. */
  async line(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<LogLine>((resolve) => this.waiters.push({ pred, resolve })),
        this.exited.then((e) => Promise.reject(new Error(`weir exited (${e.code ?? e.signal}) before ${what}\n${this.transcript()}`))),
        new Promise<LogLine>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms\n${this.transcript()}`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  transcript(): string {
    return [...this.lines.map((l) => JSON.stringify(l)), ...this.other].slice(-40).join('\n');
  }
}

function metricValue(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

/** Polls /metrics until `series` reaches `min` (the gateway runs in another process: this is how it tells us). */
async function metricAtLeast(port: number, series: string, min: number, timeoutMs: number, gw: GatewayProcess): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let last: number | null = null;
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    last = metricValue(text, series);
    if (last !== null && last >= min) return text;
    if (performance.now() > deadline) throw new Error(`${series} stayed at ${last} (want ≥ ${min}) for ${timeoutMs} ms\n${gw.transcript()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Rewrites VERSION (and BUILD's state_schema) of an unpacked release, keeping SHA256SUMS true. */
function retag(dir: string, version: string, stateSchema: number): void {
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  const build = readFileSync(join(dir, 'BUILD'), 'utf8').replace(/^version=.*$/m, `version=${version}`).replace(/^state_schema=.*$/m, `state_schema=${stateSchema}`);
  writeFileSync(join(dir, 'BUILD'), build);
  const sum = (f: string): string => createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => {
      const f = l.slice(66);
      return f === 'VERSION' || f === 'BUILD' ? `${sum(f)}  ${f}` : l;
    });
  writeFileSync(join(dir, 'SHA256SUMS'), sums.join('\n') + '\n');
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  }
  return n;
}

async function publishPhase(port: number, secret: string, from: number, timeoutMs: number): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: DEVICE, username: DEVICE, password: secret, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: timeoutMs,
  });
  try {
    // In order, each acknowledged (PUBACK = durable in the log) before the next: event time only grows.
    for (let i = from; i < from + MESSAGES_PER_PHASE; i++) {
      await client.publishAsync(`weir/${DEVICE}/telemetry`, JSON.stringify({ ts: T0 + i * STEP_MS, temperature: 20 + i / 10, humidity: 40 + (i % 5) }), { qos: 1 });
    }
  } finally {
    await client.endAsync();
  }
}

export async function runSmoke(opts: SmokeOptions): Promise<SmokeResult> {
  const log = opts.log ?? (() => {});
  const k = opts.slowdown ?? 1;
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    seconds[name] = Math.round(now - t) / 1000;
    t = now;
    log(`${name}: ${seconds[name]} s`);
  };
  const work = mkdtempSync(join(tmpdir(), 'weir-smoke-'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.node !== undefined) env.WEIR_NODE = opts.node;
  else delete env.WEIR_NODE;
  delete env.NODE_OPTIONS; // the test runner's loader flags are not for the release
  const gateways: GatewayProcess[] = [];
  try {
    // ---- 1. install, idempotence, upgrade, rollback -------------------------------------------
    const unpack = join(work, 'unpack');
    const untar = await runToEnd('sh', ['-c', 'mkdir -p "$1" && tar xzf "$2" -C "$1"', 'sh', unpack, opts.tarball], env, 60_000);
    assert.equal(untar.code, 0, untar.stderr);
    const [name] = readdirSync(unpack);
    assert.ok(name, 'the tarball holds one folder');
    const pkg = join(unpack, name);
    const version = readFileSync(join(pkg, 'VERSION'), 'utf8').trim();
    const root = join(work, 'root');
    const install = async (dir: string, ...args: string[]): Promise<Run> => runToEnd(join(dir, 'install.sh'), ['--root', root, ...args], env, 60_000 * k);

    let r = await install(pkg);
    assert.equal(r.code, 0, `install.sh: ${r.stdout}${r.stderr}`);
    const opt = join(root, 'opt', 'weir');
    assert.equal(readlinkSync(join(opt, 'current')), `releases/${version}`);
    for (const f of ['etc/weir/gateway.yaml', 'etc/weir/pipeline.yaml', 'etc/weir/gateway.yaml.dist', 'etc/systemd/system/weir.service', 'etc/systemd/system/weir-health.timer', 'var/lib/weir']) {
      assert.ok(existsSync(join(root, f)), `install.sh made ${f}`);
    }
    const installedBytes = duBytes(join(opt, 'releases', version));
    // Config and state are the operator's: a second run changes nothing.
    appendFileSync(join(root, 'etc/weir/gateway.yaml'), '# edited by the operator\n');
    writeFileSync(join(root, 'var/lib/weir/keep-me'), 'state');
    r = await install(pkg);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing changed/);
    assert.match(readFileSync(join(root, 'etc/weir/gateway.yaml'), 'utf8'), /# edited by the operator\n$/);
    assert.equal(readFileSync(join(root, 'var/lib/weir/keep-me'), 'utf8'), 'state');
    // Upgrade to a release with a newer state schema, then back.
    const next = join(work, 'next');
    cpSync(pkg, next, { recursive: true });
    retag(next, `${version}-next`, SCHEMA_VERSION + 1);
    r = await install(next);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(join(opt, 'current')), `releases/${version}-next`);
    assert.equal(readlinkSync(join(opt, 'previous')), `releases/${version}`);
    r = await runToEnd(join(opt, 'current', 'install.sh'), ['--root', root, '--rollback'], env, 30_000 * k);
    assert.notEqual(r.code, 0, 'rollback across a state schema change needs --force');
    assert.match(r.stderr, /forward-only.*E_STATE_SCHEMA_NEWER.*--force/s);
    r = await runToEnd(join(opt, 'current', 'install.sh'), ['--root', root, '--rollback', '--force'], env, 30_000 * k);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(join(opt, 'current')), `releases/${version}`);
    assert.equal(readlinkSync(join(opt, 'previous')), `releases/${version}-next`);
    assert.equal(readFileSync(join(root, 'var/lib/weir/keep-me'), 'utf8'), 'state');
    rmSync(join(root, 'var/lib/weir/keep-me'));
    lap('install, reinstall, upgrade, rollback');

    // ---- 2. a bad config ------------------------------------------------------------------------
    const weir = join(root, 'usr', 'local', 'bin', 'weir');
    const stateDir = join(root, 'var', 'lib', 'weir');
    const config = join(root, 'etc', 'weir', 'smoke.yaml');
    const configText = `gateway:
  id: smoke
  stateDir: ${stateDir}
  checkpointInterval: 200ms
http: { host: 127.0.0.1, port: 0 }
mqtt:
  embedded: { host: 127.0.0.1, port: 0, credentials: ${join(stateDir, 'devices.json')} }
pipelines:
  - name: smoke
    keyBy: [deviceId, metric]
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, max]
`;
    writeFileSync(config, configText);
    writeFileSync(join(root, 'etc', 'weir', 'bad.yaml'), `${configText}memory: { budget: lots }\n`);
    r = await runToEnd(weir, ['run', '--config', join(root, 'etc', 'weir', 'bad.yaml')], env, 60_000 * k);
    assert.equal(r.code, 2, `a bad config exits 2: ${r.stderr}`);
    assert.match(r.stderr, /E_CONFIG: memory\.budget: /);
    lap('bad config refused');

    // ---- 3. a device ----------------------------------------------------------------------------
    r = await runToEnd(weir, ['device', 'add', DEVICE, '--credentials', join(stateDir, 'devices.json')], env, 60_000 * k);
    assert.equal(r.code, 0, r.stderr);
    const secret = r.stdout.trim().split('\n')[0]!.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{16,}$/, `device add printed its secret first: ${r.stdout}`);
    lap('device add');

    // ---- 4. run, ingest, windows, checkpoint ----------------------------------------------------
    const start = async (): Promise<{ gw: GatewayProcess; mqttPort: number; httpPort: number }> => {
      const gw = new GatewayProcess(spawn(weir, ['run', '--config', config], { env, stdio: ['ignore', 'ignore', 'pipe'] }));
      gateways.push(gw);
      const broker = await gw.line((l) => l.msg === 'mqtt broker listening' && typeof l.tcp === 'number', 120_000 * k, 'mqtt broker listening');
      const http = await gw.line((l) => l.msg === 'http listening', 120_000 * k, 'http listening');
      await gw.line((l) => l.msg === 'gateway started', 120_000 * k, 'gateway started');
      return { gw, mqttPort: broker.tcp as number, httpPort: http.port as number };
    };
    let g = await start();
    lap('first start');
    await publishPhase(g.mqttPort, secret, 0, 30_000 * k);
    // Readings 0..15 span [T0, T0 + 3.75 s): windows 0, 1 and 2 close, for two metrics.
    const firstWindows = 3 * 2;
    let text = await metricAtLeast(g.httpPort, 'weir_windows_total{pipeline="smoke"}', firstWindows, 60_000 * k, g.gw);
    const ckBefore = metricValue(text, 'weir_checkpoints_total') ?? 0;
    text = await metricAtLeast(g.httpPort, 'weir_checkpoints_total', ckBefore + 2, 60_000 * k, g.gw);
    // /proc of the process (under qemu: the emulator's, which also holds the translated code; the
    // gateway's own weir_process_resident_memory_bytes reads 0 there).
    assert.ok(metricValue(text, 'weir_process_resident_memory_bytes') !== null, 'RSS in /metrics');
    const idleRssBytes = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${g.gw.child.pid!}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    assert.ok(idleRssBytes > 0, 'RSS of the process');
    lap('ingest, windows, checkpoint');

    // ---- 5. SIGKILL, restart with state -----------------------------------------------------------
    g.gw.child.kill('SIGKILL');
    assert.equal((await g.gw.exited).signal, 'SIGKILL');
    g = await start();
    const recovered = await g.gw.line((l) => l.msg === 'recovered', 1000, 'recovered');
    assert.ok(Number(recovered.checkpointId) >= 1, `restarted from a checkpoint: ${JSON.stringify(recovered)}`);
    assert.ok(Number(recovered.fromOffset) > 1, 'and past the first log records');
    lap('SIGKILL and restart');
    await publishPhase(g.mqttPort, secret, MESSAGES_PER_PHASE, 30_000 * k);
    g.gw.child.kill('SIGTERM');
    const stopped = await g.gw.exited;
    assert.equal(stopped.code, 0, `SIGTERM stops it cleanly\n${g.gw.transcript()}`);
    assert.ok(g.gw.lines.some((l) => l.msg === 'gateway stopped'));
    lap('more readings, SIGTERM');

    // ---- 6. every window exactly once -------------------------------------------------------------
    // The final checkpoint consumed the log: readings 0..31 span [T0, T0 + 7.75 s), so windows 0..6 closed.
    const store = await LocalStateStore.open({ path: join(stateDir, 'weir.db') });
    let windows: { series: string; tStart: number; tEnd: number }[];
    try {
      const rows = await store.readOutbox({ afterSeq: 0, limit: 10_000 });
      assert.deepEqual(rows.map((x) => x.seq), rows.map((_, i) => i + 1), 'outbox seqs are 1..n with no gap');
      windows = rows.filter((x) => x.kind === 'window').map((x) => ({ series: x.series, tStart: x.tStart, tEnd: x.tEnd }));
      const ck = await store.loadCheckpoint();
      const stats = await store.logStats();
      assert.equal(ck?.consumedOffset, stats.nextOffset - 1, 'the final checkpoint consumed the whole log');
    } finally {
      await store.close();
    }
    const ids = windows.map((w) => `${w.series}@${w.tStart}-${w.tEnd}`);
    assert.equal(new Set(ids).size, ids.length, `no window twice across the SIGKILL: ${ids.join(', ')}`);
    const starts = windows.map((w) => w.tStart).sort((a, b) => a - b);
    const expected = [0, 1, 2, 3, 4, 5, 6].flatMap((i) => [T0 + i * 1000, T0 + i * 1000]);
    assert.deepEqual(starts, expected, 'windows 0..6 of both metrics, each once');
    lap('outbox checked');

    // ---- 7. a newer state schema is refused -------------------------------------------------------
    const db = new Database(join(stateDir, 'weir.db'));
    db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(SCHEMA_VERSION + 1);
    db.close();
    r = await runToEnd(weir, ['run', '--config', config], env, 120_000 * k);
    assert.notEqual(r.code, 0, 'a state file from a newer schema stops weir');
    // The store refuses; `weir run` reports the stable code (not an internal error with a stack).
    assert.match(r.stderr, /weir: error E_STATE_SCHEMA_NEWER: /);
    assert.doesNotMatch(r.stderr, /internal error/);
    const again = new Database(join(stateDir, 'weir.db'), { readonly: true });
    const v = (again.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number }).value;
    again.close();
    assert.equal(v, SCHEMA_VERSION + 1, 'and the file is left as it was');
    lap('newer schema refused');

    return { root, idleRssBytes, installedBytes, windows: windows.length, recoveredFromCheckpoint: Number(recovered.checkpointId), seconds };
  } finally {
    for (const gw of gateways) if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL');
    await Promise.all(gateways.map((gw) => gw.exited));
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}
