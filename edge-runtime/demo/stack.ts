/**
 * The whole weir system on one machine, as real child processes on
 * 127.0.0.1: a cloud-sync service (SQLite), a gateway (`weir run`, with its
 * embedded MQTT broker, CoAP observer, uplink and /metrics) and the
 * simulated fleet (`weir-sim` live mode). `weir demo` runs on it, and so do
 * the switchover and fault tests.
 *
 *   const stack = await Stack.start({
 *     dir,                                          // work dir: created (wiped unless fresh: false)
 *     sim: { devices: { 'env-sensor': 4, 'power-meter': 1 }, timeScale: 60, faultRate: 500, seed: 7 },
 *     uplinkVia: async (cloud) => (proxy = await FaultProxy.start(cloud)).port,   // something between gateway and cloud
 *     cloud: { batch: { maxRecords: 20 } },         // extra `cloud:` settings of the gateway config
 *     gatewayConfig: { outbox: { maxBytes: '1MB' } },// extra top-level sections (merged over the generated ones)
 *   });
 *   stack.gateway.kill('SIGKILL'); await stack.gateway.exited; await stack.gateway.start();   // or .restart()
 *   await stack.gateway.waitFor((l) => l.msg === 'uplink: request failed; retrying', { after: mark });
 *   await stack.untilMetrics((m) => m.sum('weir_windows_total') > 10, { what: 'windows' });   // polls /metrics
 *   await stack.until(async () => (await stack.cloudGateway()).contiguousSeq > 100, { what: 'rows in the cloud' });
 *   const fleet = await stack.cloudGateway();       // the cloud's view (/v1/fleet): seqs, last seen, last heartbeat
 *   await stack.cloudGet('/v1/anomalies?limit=5');  // the query API, with the reader token
 *   const report = await stack.stop();              // sim, drain, gateway (final checkpoint), cloud; no leftovers
 *   report.outbox;                                  // { issued, ackedSeq, rows } from the stopped gateway's state
 *
 * Also: `stack.files` (every path: databases, tokens, config, logs),
 * `stack.ports` / `stack.urls`, `stack.devices` (fleet ids by transport),
 * `stack.coapEndpoints()`, `stack.diagnose()` (process states and log
 * tails, for assertion messages), `runProgram('weir', ['restore', ...])`
 * for one-shot commands started like the children, `hasLibcoap()` (the
 * simulator's DTLS devices need libcoap's coap-server-openssl).
 *
 * Handles: `stack.cloud`, `stack.gateway`, `stack.sim` are ManagedProcess
 * (managed-process.ts): pid, pids (all incarnations), ports, running,
 * exited, lines/onLine/mark/waitFor (JSON log lines parsed), kill(signal),
 * stop(), start(), restart(). A restart keeps ports, state dir and
 * database: the cloud serves on its first port again, the gateway keeps its
 * broker and /metrics ports (written into its config after the first
 * start). The simulator's CoAP devices get new ports when it restarts (the
 * simulator has no option to fix them): the gateway's config follows the
 * new manifest at its next (re)start, so restart the gateway after the
 * simulator when the fleet has CoAP devices.
 *
 * Start-up order, and why: provision the cloud (gateway and reader tokens,
 * via `weir-cloud gateway add` / `reader add`, into 0600 files — never
 * printed) → cloud (binds port 0, reports it) → `uplinkVia` → the
 * simulator when the fleet has CoAP devices (it binds them to free ports
 * and writes the manifest the gateway's `coap:` section is made from; its
 * MQTT devices retry until the broker is up, on a port reserved for the
 * gateway just before) → the gateway → the simulator otherwise (then the
 * broker binds port 0 and the simulator is given the port it reports).
 * Every child's output goes to `<dir>/logs/<name>.log` as well.
 *
 * MQTT device auth: 'credentials' (default) stores a hash of one generated
 * fleet secret per device in the gateway's credentials file, as `weir
 * device add` does, and points the simulator's profiles at the secret file;
 * 'anonymous' runs the broker without auth (a development setting).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStateStore } from '../state/local-store.ts';
import type { DropTotals, HeartbeatBody } from '../../cloud-sync/protocol.ts';
import { DemoError } from './demo-errors.ts';
import { samplePath } from './entries.ts';
import { ManagedProcess, type Exit, type LogLine } from './managed-process.ts';
import { Metrics } from './prom-text.ts';
import {
  HOST, fleetIds, gatewayConfigText, loadBaseConfig, provisionCloud, provisionDevices, reservePort, simArgs, stackFiles, writeProfiles,
  type CoapEndpointInfo, type SimOptions, type StackFiles,
} from './stack-setup.ts';

export { hasLibcoap, runProgram, type CoapEndpointInfo, type SimOptions, type StackFiles } from './stack-setup.ts';

export interface StackOptions {
  readonly dir: string;
  /** Wipe `dir` first (default true). With false, an earlier stack's databases and tokens are reused. */
  readonly fresh?: boolean;
  /** null or absent: no simulator (a test drives the broker itself). */
  readonly sim?: SimOptions | null;
  /** The gateway config to start from (default: edge-runtime/samples/gateway.yaml). */
  readonly baseConfig?: string;
  /** A pipeline file to use instead of the base config's pipelines. */
  readonly pipelines?: string;
  /** e.g. '500ms' (default: the base config's). */
  readonly checkpointInterval?: string;
  readonly gatewayId?: string;
  /** Extra settings of the gateway's `cloud:` section (batch, heartbeat, poll, backlogBandwidth, ...). */
  readonly cloud?: Readonly<Record<string, unknown>>;
  /** Extra top-level sections of the gateway config, merged over the generated ones (one level deep). */
  readonly gatewayConfig?: Readonly<Record<string, unknown>>;
  readonly mqttAuth?: 'credentials' | 'anonymous';
  /** Puts something between gateway and cloud: given the cloud's address, returns the port the uplink should use. */
  readonly uplinkVia?: (cloud: { host: string; port: number }) => Promise<number>;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Per process start (default 90 s: tsx compiles on first start on a slow board). */
  readonly startTimeoutMs?: number;
  /** More environment for every child (copied once; `stack.<child>.spec.env` is the object each (re)start gets). */
  readonly env?: Readonly<Record<string, string>>;
}

/** One gateway in the cloud's GET /v1/fleet (cloud-sync/query-routes.ts fleetEntry). */
export interface CloudGatewayView {
  readonly gatewayId: string;
  readonly createdAtMs: number;
  readonly lastSeenMs: number | null;
  readonly lastSeenAgoMs: number | null;
  /** Every seq up to here is stored (or tombstoned). */
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  /** Rows the gateway had written, as of its last heartbeat, that the cloud does not hold in order yet. */
  readonly lagSeqs: number | null;
  readonly heartbeatAtMs: number | null;
  readonly outbox: HeartbeatBody['outbox'] | null;
  readonly drops: DropTotals | null;
  readonly watermarkLagMs: number | null;
  readonly versions: HeartbeatBody['versions'] | null;
  readonly counters: HeartbeatBody['counters'] | null;
  readonly latestCheckpoint: unknown;
}

export interface StopReport {
  readonly sim: Exit | null;
  readonly gateway: Exit;
  readonly cloud: Exit;
  /**
   * The gateway's outbox after it stopped, from its state database: seqs it
   * committed (1..issued), the highest the cloud acked, and rows still held
   * (committed by the final checkpoint, or not acked in time: sent at the next start).
   */
  readonly outbox: { readonly issued: number; readonly ackedSeq: number; readonly rows: number } | null;
}

export class Stack {
  readonly cloud: ManagedProcess;
  readonly gateway: ManagedProcess;
  readonly sim: ManagedProcess | null;
  readonly files: StackFiles;
  readonly gatewayId: string;
  /** The fleet's device ids by transport. */
  readonly devices: { readonly mqtt: readonly string[]; readonly coap: readonly string[] };
  private stopping: Promise<StopReport> | null = null;
  private cloudPort = 0;
  private uplinkPort = 0;
  private mqttPort = 0;
  private httpPort = 0;
  private readonly base: Record<string, unknown>;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(readonly options: StackOptions) {
    const f = (this.files = stackFiles(options.dir));
    this.gatewayId = options.gatewayId ?? 'demo-gateway';
    const ids = fleetIds(options.sim?.devices ?? {});
    this.devices = ids;
    // The cloud is SQLite here, always: a DATABASE_URL in the caller's environment would send it to PostgreSQL.
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    delete env.DATABASE_URL;
    delete env.WEIR_CLOUD_TOKEN;
    this.env = env;
    this.base = loadBaseConfig(options.baseConfig ?? samplePath('gateway.yaml'));

    const start = options.startTimeoutMs ?? 90_000;
    const level = options.logLevel ?? 'info';
    this.cloud = new ManagedProcess({
      name: 'cloud',
      program: 'weir-cloud',
      args: () => ['serve', '--db', f.cloudDb, '--host', HOST, '--port', String(this.cloudPort), '--log-level', level],
      env,
      logFile: join(f.logs, 'cloud.log'),
      ready: (l) => l.msg === 'cloud-sync listening',
      readyTimeoutMs: start,
    });
    this.gateway = new ManagedProcess({
      name: 'gateway',
      program: 'weir',
      args: () => {
        writeFileSync(f.gatewayConfig, gatewayConfigText({
          base: this.base, files: f, gatewayId: this.gatewayId,
          ports: { http: this.httpPort, mqtt: this.mqttPort, uplink: this.uplinkPort },
          coap: this.coapEndpoints(),
          mqttAuth: options.mqttAuth ?? 'credentials',
          checkpointInterval: options.checkpointInterval, pipelines: options.pipelines, cloud: options.cloud, extra: options.gatewayConfig,
        }));
        return ['run', '--config', f.gatewayConfig, '--log-level', level];
      },
      env,
      logFile: join(f.logs, 'gateway.log'),
      ready: (l) => l.msg === 'gateway started',
      readyTimeoutMs: start,
    });
    const sim = options.sim;
    this.sim = sim === null || sim === undefined ? null : new ManagedProcess({
      name: 'sim',
      program: 'weir-sim',
      args: () => simArgs(sim, f, this.mqttPort),
      env,
      logFile: join(f.logs, 'sim.log'),
      // The manifest is written before the endpoints are listed, one `coap ID URL` line each.
      ready: ids.coap.length === 0 ? undefined : (() => {
        const seen = new Set<string>();
        return (l: LogLine) => {
          const m = /^coap (\S+) /.exec(l.text);
          if (m !== null) seen.add(m[1]!);
          return seen.size >= ids.coap.length;
        };
      })(),
      readyTimeoutMs: start,
    });
  }

  static async start(options: StackOptions): Promise<Stack> {
    const s = new Stack(options);
    try {
      await s.boot();
    } catch (e) {
      await s.stop({ drainMs: 0 }).catch(() => undefined);
      throw e;
    }
    return s;
  }

  /** Ports in use: the cloud's own, the one the uplink talks to (a proxy's when `uplinkVia`), the broker, /metrics. */
  get ports(): { readonly cloud: number; readonly uplink: number; readonly mqtt: number; readonly metrics: number } {
    return { cloud: this.cloudPort, uplink: this.uplinkPort, mqtt: this.mqttPort, metrics: this.httpPort };
  }

  get urls(): { readonly cloud: string; readonly metrics: string; readonly healthz: string; readonly broker: string } {
    return {
      cloud: `http://${HOST}:${this.cloudPort}`,
      metrics: `http://${HOST}:${this.httpPort}/metrics`,
      healthz: `http://${HOST}:${this.httpPort}/healthz`,
      broker: `mqtt://${HOST}:${this.mqttPort}`,
    };
  }

  /** The simulator's CoAP endpoints, as its manifest says ([] before it started, or without CoAP devices). */
  coapEndpoints(): CoapEndpointInfo[] {
    if (!existsSync(this.files.coapManifest)) return [];
    return JSON.parse(readFileSync(this.files.coapManifest, 'utf8')) as CoapEndpointInfo[];
  }

  readerToken(): string {
    return readFileSync(this.files.readerToken, 'utf8').trim();
  }

  private async boot(): Promise<void> {
    const o = this.options;
    const f = this.files;
    if (o.fresh ?? true) {
      // Wipe only what a stack made: never a directory given by mistake (`--dir ~`).
      if (existsSync(f.dir) && readdirSync(f.dir).length > 0 && !existsSync(f.logs)) {
        throw new DemoError('E_DEMO_DIR', `${f.dir} is not empty and was not made by weir demo: refusing to wipe it (give another --dir)`);
      }
      rmSync(f.dir, { recursive: true, force: true });
    }
    rmSync(f.coapManifest, { force: true }); // an earlier run's endpoints are gone
    mkdirSync(f.logs, { recursive: true, mode: 0o700 });
    mkdirSync(f.gatewayStateDir, { recursive: true, mode: 0o700 });
    chmodSync(f.dir, 0o700); // tokens and secrets live here

    await provisionCloud(f, this.gatewayId, this.env);
    writeProfiles(f);
    if ((o.mqttAuth ?? 'credentials') === 'credentials' && this.devices.mqtt.length > 0) await provisionDevices(f, this.devices.mqtt);

    await this.cloud.start();
    this.cloudPort = Number(new URL(String(this.cloud.lines.findLast((l) => l.msg === 'cloud-sync listening')!.json!.url)).port);
    this.cloud.ports = { http: this.cloudPort };
    this.uplinkPort = o.uplinkVia !== undefined ? await o.uplinkVia({ host: HOST, port: this.cloudPort }) : this.cloudPort;

    const simFirst = this.sim !== null && this.devices.coap.length > 0;
    if (simFirst) {
      this.mqttPort = await reservePort();
      await this.sim!.start();
      this.sim!.ports = { coap: this.coapEndpoints().map((e) => Number(new URL(e.url).port)) };
    }
    await this.gateway.start();
    this.learnGatewayPorts();
    if (this.sim !== null && !simFirst) await this.sim.start();
  }

  /** Ports the gateway reported; written into its config so a restart binds the same ones. */
  private learnGatewayPorts(): void {
    const lines = this.gateway.lines;
    const http = lines.findLast((l) => l.msg === 'http listening');
    const mqtt = lines.findLast((l) => l.msg === 'mqtt broker listening');
    if (http?.json !== null && http !== undefined) this.httpPort = Number(http.json.port);
    if (mqtt?.json !== null && mqtt !== undefined) this.mqttPort = Number(mqtt.json.tcp);
    this.gateway.ports = { metrics: this.httpPort, mqtt: this.mqttPort };
  }

  /** The stopped gateway's outbox figures (its state database, through the state store). */
  private async readOutbox(): Promise<StopReport['outbox']> {
    if (this.gateway.running || !existsSync(this.files.gatewayDb)) return null;
    const store = await LocalStateStore.open({ path: this.files.gatewayDb });
    try {
      const st = await store.outboxStats(Date.now());
      return { issued: st.nextSeq - 1, ackedSeq: st.ackedSeq, rows: st.rows };
    } finally {
      await store.close();
    }
  }

  /** One scrape of the gateway's /metrics. */
  async metrics(timeoutMs = 5000): Promise<Metrics> {
    const res = await fetch(this.urls.metrics, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new DemoError('E_DEMO_HTTP', `GET /metrics: HTTP ${res.status}`);
    return Metrics.parse(await res.text());
  }

  /** GET on the cloud's query API with the reader token; the parsed JSON. */
  async cloudGet<T = unknown>(path: string, timeoutMs = 5000): Promise<T> {
    const res = await fetch(`${this.urls.cloud}${path}`, { headers: { authorization: `Bearer ${this.readerToken()}` }, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as T;
    if (!res.ok) throw new DemoError('E_DEMO_HTTP', `GET ${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** This gateway as the cloud sees it (/v1/fleet): its seqs, when it was last seen, and the figures of its last heartbeat. */
  async cloudGateway(): Promise<CloudGatewayView> {
    const r = await this.cloudGet<{ gateways: CloudGatewayView[] }>(
      `/v1/fleet?gateway=${encodeURIComponent(this.gatewayId)}`);
    const g = r.gateways.find((x) => x.gatewayId === this.gatewayId);
    if (g === undefined) throw new DemoError('E_DEMO_HTTP', `the cloud does not know gateway ${this.gatewayId}`);
    return g;
  }

  /**
   * Polls `cond` every `intervalMs` until it holds — for figures only a poll
   * can see (metrics, the cloud's tables); log events have waitFor. A
   * condition that throws (a scrape while the gateway restarts) counts as
   * not yet. Rejects after `timeoutMs` saying `what`, or as soon as a
   * process of the stack exits unexpectedly.
   */
  async until<T>(cond: () => Promise<T | false | null | undefined> | T | false | null | undefined, o: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    let last: unknown = null;
    for (;;) {
      try {
        const v = await cond();
        if (v !== false && v !== null && v !== undefined) return v;
        last = null;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) {
        throw new DemoError('E_DEMO_TIMEOUT', `timed out after ${o.timeoutMs ?? 60_000} ms waiting for ${o.what ?? 'a condition'}` +
          `${last !== null ? ` (last error: ${(last as Error).message})` : ''}\n${this.diagnose()}`);
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 200));
    }
  }

  /** Polls the gateway's /metrics until `pred` holds; returns that scrape. */
  untilMetrics(pred: (m: Metrics) => boolean, o: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<Metrics> {
    return this.until(async () => {
      const m = await this.metrics();
      return pred(m) ? m : null;
    }, o);
  }

  /** Where to look when something failed: process states and the tails of their logs. */
  diagnose(): string {
    return [this.cloud, this.gateway, this.sim].filter((p): p is ManagedProcess => p !== null).map((p) =>
      `${p.name}: ${p.running ? `running (pid ${p.pid})` : `not running (${JSON.stringify(p.exitStatus)})`}; log ${p.spec.logFile}\n${p.tail(8)}`).join('\n');
  }

  /**
   * SIGTERM; the simulator writes its summary when its devices are closed.
   * It sometimes lingers after that (a CoAP request of its DTLS device still
   * pending in the coap library's agent keeps a socket and a timer alive):
   * with nothing left to do, it gets SIGKILL 2 s after its summary.
   */
  private async stopSim(): Promise<Exit | null> {
    const sim = this.sim!;
    if (!sim.running) return sim.exitStatus;
    const mark = sim.mark();
    sim.kill('SIGTERM');
    const done = await Promise.race([
      sim.exited.then(() => 'exited' as const),
      sim.waitFor((l) => l.text.startsWith('summary '), { after: mark, failOnExit: false, timeoutMs: 15_000 }).then(() => 'summary' as const, () => 'timeout' as const),
    ]);
    if (done === 'summary') {
      const t = setTimeout(() => sim.killGroup('SIGKILL'), 2000);
      await sim.exited;
      clearTimeout(t);
    }
    return sim.stop({ graceMs: 0 });
  }

  /**
   * Stops everything, in order: the simulator; then, while the gateway's
   * outbox still holds rows and `drainMs` (default 10 s) allows, lets the
   * uplink catch up (the last upload); the gateway (SIGTERM: final
   * checkpoint); the cloud. A process that does not stop within its grace
   * is SIGKILLed with its process group. Safe to call twice. The hooks run
   * at those two points (e.g. a last scrape; a query once the gateway's
   * last upload is in); an error they throw is ignored.
   */
  stop(o: { drainMs?: number; beforeGatewayStops?: () => Promise<void>; beforeCloudStops?: () => Promise<void> } = {}): Promise<StopReport> {
    this.stopping ??= (async () => {
      const sim = this.sim === null ? null : await this.stopSim();
      if (this.gateway.running && this.httpPort !== 0) {
        const drainMs = o.drainMs ?? 10_000;
        const rows = async (): Promise<number> => (await this.metrics(2000)).sum('weir_outbox_rows');
        if (drainMs > 0 && (await rows().catch(() => 0)) > 0) {
          await this.until(async () => ((await rows()) === 0 ? true : null), { timeoutMs: drainMs, intervalMs: 250, what: 'the outbox to drain' }).catch(() => undefined);
        }
      }
      if (this.gateway.running) await o.beforeGatewayStops?.().catch(() => undefined);
      const gateway = await this.gateway.stop({ graceMs: 30_000 });
      const outbox = await this.readOutbox().catch(() => null);
      if (this.cloud.running) await o.beforeCloudStops?.().catch(() => undefined);
      const cloud = await this.cloud.stop({ graceMs: 15_000 });
      for (const p of [this.sim, this.gateway, this.cloud]) await p?.close();
      return { sim, gateway, cloud, outbox };
    })();
    return this.stopping;
  }
}
