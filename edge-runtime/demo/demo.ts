import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isAbsolute, relative, resolve } from 'node:path';
import { WeirError } from '../errors.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { BUILTIN_PROFILES } from '../../devices/index.ts';
import { hasLibcoap, Stack } from './stack.ts';
import { LinkSwitch } from './link-switch.ts';
import { formatStatus, StatusSampler, type StatusFigures } from './status.ts';
import type { ManagedProcess } from './managed-process.ts';

export const DEMO_HELP = `  weir demo [--duration D] [--dir DIR] [--keep] [--seed N] [--time-scale X] [--devices P=N,...]
            [--fault-rate N] [--offline-every D [--offline-for D]]
      The whole system on this machine, on 127.0.0.1 and free ports: a cloud
      (weir-cloud, SQLite), a gateway (weir run: embedded MQTT broker, CoAP,
      sample pipelines, uplink) and a simulated mixed fleet with faults. Shows
      a status line from the gateway's /metrics and how to query the cloud.
      Ctrl-C stops everything cleanly (exit 0, one summary line).
      --dir DIR (default .weir/demo) is wiped at start unless --keep.
      --offline-every D switches the uplink off for --offline-for (default 10s)
      every D: a switch between gateway and cloud refuses every request (503).
`;

/** Mixed fleet: MQTT (env-sensor, vibration) and CoAP (power-meter; cold-room over DTLS when libcoap is installed). */
const DEFAULT_FLEET: Readonly<Record<string, number>> = { 'env-sensor': 6, vibration: 2, 'power-meter': 2, 'cold-room': 1 };
/**
 * Simulated time runs 10× faster, so the sample pipeline's one-minute windows fire every ~6 s.
 * Dropout faults are left out: a silent device holds the per-device watermark of `minute-stats`
 * back for its 30 s idle timeout, and the demo would look stuck.
 */
const DEFAULT_TIME_SCALE = 10;
const DEFAULT_FAULT_RATE = 300;
const FAULT_KINDS = ['spike', 'level_shift', 'drift', 'stuck', 'noise_burst', 'out_of_range'];
/** Temperature every 2 s (profile: 5 s): the EWMA detector's 30-reading warm-up is over in ~6 s instead of 15. */
const INTERVALS = { 'env-sensor': '2s' };

interface Io {
  readonly out: NodeJS.WriteStream;
  readonly tty: boolean;
}

function parseFleet(v: string): Record<string, number> {
  const fleet: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^([a-z0-9-]+)=(\d+)$/.exec(part.trim());
    if (m === null) throw new WeirError('E_USAGE', `--devices: expected PROFILE=N,..., got ${JSON.stringify(part)}`);
    if (!BUILTIN_PROFILES.some((p) => p.name === m[1])) throw new WeirError('E_USAGE', `--devices: unknown profile ${m[1]} (built-in: ${BUILTIN_PROFILES.map((p) => p.name).join(', ')})`);
    fleet[m[1]!] = Number(m[2]);
  }
  return fleet;
}

const shown = (p: string): string => {
  const r = relative(process.cwd(), p);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : p;
};

function describeFleet(fleet: Record<string, number>): string {
  const by = (kind: 'mqtt' | 'coap'): string =>
    Object.entries(fleet).filter(([p, n]) => n > 0 && BUILTIN_PROFILES.find((x) => x.name === p)!.transport.kind === kind).map(([p, n]) => `${n} ${p}`).join(' + ');
  return [by('mqtt') && `${by('mqtt')} over MQTT`, by('coap') && `${by('coap')} over CoAP`].filter(Boolean).join(', ');
}

export async function runDemo(argv: string[], io: Io = { out: process.stdout, tty: process.stdout.isTTY === true }): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' }, dir: { type: 'string' }, keep: { type: 'boolean', default: false }, seed: { type: 'string' },
      'time-scale': { type: 'string' }, devices: { type: 'string' }, 'fault-rate': { type: 'string' },
      'offline-every': { type: 'string' }, 'offline-for': { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    io.out.write(`Usage:\n${DEMO_HELP}`);
    return 0;
  }
  const num = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new WeirError('E_USAGE', `--${name} must be a non-negative number, got ${v}`);
    return n;
  };
  const durationMs = values.duration === undefined ? null : parseDuration(values.duration, '--duration');
  const offlineEveryMs = values['offline-every'] === undefined ? null : parseDuration(values['offline-every'], '--offline-every');
  const offlineForMs = values['offline-for'] === undefined ? 10_000 : parseDuration(values['offline-for'], '--offline-for');
  if (offlineEveryMs !== null && offlineForMs >= offlineEveryMs) throw new WeirError('E_USAGE', '--offline-for must be shorter than --offline-every');
  const dir = resolve(values.dir ?? '.weir/demo');
  const notes: string[] = [];
  const fleet = values.devices !== undefined ? parseFleet(values.devices) : { ...DEFAULT_FLEET };
  if ((fleet['cold-room'] ?? 0) > 0 && !hasLibcoap()) {
    delete fleet['cold-room'];
    notes.push('cold-room (CoAP over DTLS) left out: the simulator needs libcoap\'s coap-server-openssl (Debian: apt-get install libcoap3-bin)');
  }
  if (Object.values(fleet).every((n) => n === 0)) throw new WeirError('E_USAGE', '--devices: the fleet is empty');
  const timeScale = num('time-scale', values['time-scale'], DEFAULT_TIME_SCALE);
  const faultRate = num('fault-rate', values['fault-rate'], DEFAULT_FAULT_RATE);

  const say = (line: string): void => {
    io.out.write(io.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  };

  // Signals are taken from the start: one that arrives while the stack starts stops it right after.
  let stopReason: string | null = null;
  let wake: () => void = () => {};
  const requestStop = (why: string): void => {
    stopReason ??= why;
    wake();
  };
  let forced = false;
  let stack: Stack | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopReason !== null && !forced) {
      forced = true; // a second Ctrl-C: do not wait for a clean stop
      say('weir demo: second signal, killing everything');
      for (const p of [stack?.sim, stack?.gateway, stack?.cloud]) p?.killGroup('SIGKILL');
      process.exit(130);
    }
    requestStop(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let link: LinkSwitch | null = null;
  let linkTimer: ReturnType<typeof setTimeout> | null = null;
  try {
    say(`weir demo: starting a cloud, a gateway and a simulated fleet in ${shown(dir)} ...`);
    try {
      stack = await Stack.start({
        dir,
        fresh: !values.keep,
        sim: { devices: fleet, seed: num('seed', values.seed, 1), timeScale, faultRate, faultKinds: FAULT_KINDS, intervals: INTERVALS },
        mqttAuth: 'credentials',
        ...(offlineEveryMs !== null ? { uplinkVia: async (cloud: { host: string; port: number }) => (link = await LinkSwitch.start(cloud)).port } : {}),
      });
    } catch (e) {
      say(`weir demo: could not start: ${(e as Error).message}`);
      if (existsSync(resolve(dir, 'logs'))) say(`weir demo: logs are in ${shown(resolve(dir, 'logs'))}`);
      return 1;
    }
    printBanner(stack, say, { fleet, timeScale, faultRate, notes, offlineEveryMs, offlineForMs, durationMs });

    // A child that dies on its own ends the demo (exit 1), with where to look.
    let failed: string | null = null;
    const offExit = ([stack.cloud, stack.gateway, stack.sim].filter(Boolean) as ManagedProcess[]).map((p) => p.onExit((e) => {
      failed ??= `${p.name} exited unexpectedly (code ${e.code}, signal ${e.signal}); see ${shown(p.spec.logFile)}`;
      requestStop('failure');
    }));
    if (link !== null && offlineEveryMs !== null) {
      const sw: LinkSwitch = link;
      const cycle = (): void => {
        linkTimer = setTimeout(() => {
          sw.set(false);
          say(`weir demo: uplink switched off for ${offlineForMs / 1000}s (--offline-every): the gateway keeps processing and queues its results`);
          linkTimer = setTimeout(() => {
            sw.set(true);
            say('weir demo: uplink back on: the backlog drains, anomalies first');
            cycle();
          }, offlineForMs);
        }, offlineEveryMs - offlineForMs);
      };
      cycle();
    }
    if (durationMs !== null) setTimeout(() => requestStop('duration'), durationMs).unref();

    const sampler = new StatusSampler(stack);
    const runningSince = Date.now();
    const tickMs = io.tty ? 1000 : 3000;
    while (stopReason === null) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, tickMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      if (stopReason !== null) break;
      try {
        const f = await sampler.sample();
        // On a terminal the line is redrawn in place; cut to its width so it never wraps (a wrapped line cannot be redrawn).
        const line = formatStatus(f);
        io.out.write(io.tty ? `\r\x1b[2K${line.slice(0, io.out.columns > 20 ? io.out.columns - 1 : undefined)}` : `${line}\n`);
      } catch (e) {
        if (stopReason === null) say(`weir demo: status unavailable: ${(e as Error).message}`);
      }
    }
    const stoppedAt = Date.now();
    for (const off of offExit) off();
    if (linkTimer !== null) clearTimeout(linkTimer);
    (link as LinkSwitch | null)?.set(true); // the last upload needs the link
    if (failed !== null) say(`weir demo: ${failed}`);
    say(`weir demo: stopping (${stopReason === 'duration' ? 'duration reached' : stopReason}): simulator, then the gateway's last upload and final checkpoint, then the cloud ...`);

    let last: StatusFigures | null = sampler.last;
    let cloudRows: number | null = null;
    const report = await stack.stop({
      drainMs: 10_000,
      beforeGatewayStops: async () => {
        last = await sampler.sample().catch(() => last);
      },
      beforeCloudStops: async () => {
        cloudRows = (await stack!.cloudGateway().catch(() => null))?.contiguousSeq ?? null;
      },
    });
    // The simulator's exit is not judged: it may need a SIGKILL after its summary (see Stack.stopSim).
    const clean = report.gateway.code === 0 && report.cloud.code === 0;
    const f = last as StatusFigures | null;
    say(`weir demo: done after ${Math.round((stoppedAt - runningSince) / 1000)}s: readings ${f?.readings ?? '?'}, windows ${f?.windows ?? '?'}, anomalies ${f?.anomalies ?? '?'}, ` +
      `rows in the cloud ${cloudRows ?? '?'} of ${report.outbox?.issued ?? '?'} the gateway committed` +
      `${report.outbox !== null && report.outbox.rows > 0 ? ` (${report.outbox.rows} wait in its outbox for the next start)` : ''}` +
      `${clean ? '' : ` (not a clean stop: ${JSON.stringify(report)})`}`);
    return failed === null && clean ? 0 : 1;
  } finally {
    if (linkTimer !== null) clearTimeout(linkTimer);
    await (link as LinkSwitch | null)?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printBanner(
  s: Stack,
  say: (l: string) => void,
  o: { fleet: Record<string, number>; timeScale: number; faultRate: number; notes: string[]; offlineEveryMs: number | null; offlineForMs: number; durationMs: number | null },
): void {
  const f = s.files;
  const cloud = s.urls.cloud;
  const auth = `-H "authorization: Bearer $(cat ${shown(f.readerToken)})"`;
  const lines = [
    '',
    'weir demo — everything on 127.0.0.1, on ports picked free (the usual 1883, 5683, 8080, 8787 are left alone)',
    '',
    `  fleet       ${describeFleet(o.fleet)}; time ×${o.timeScale}; faults ${o.faultRate}/device·metric·day`,
    `  gateway     weir run --config ${shown(f.gatewayConfig)}   (pipelines: edge-runtime/samples/pipeline.yaml)`,
    `              MQTT broker ${s.urls.broker} (device credentials in ${shown(f.gatewayStateDir)}/devices.json)`,
    `              metrics ${s.urls.metrics}   health ${s.urls.healthz}`,
    `  cloud       weir-cloud serve, SQLite ${shown(f.cloudDb)}, ${cloud}${s.ports.uplink !== s.ports.cloud ? ` (the gateway reaches it through the demo's link switch on port ${s.ports.uplink})` : ''}`,
    `  processes   cloud pid ${s.cloud.pid} · gateway pid ${s.gateway.pid}${s.sim !== null ? ` · simulator pid ${s.sim.pid}` : ''}`,
    `  work dir    ${shown(f.dir)} (logs in ${shown(f.logs)}; tokens in 0600 files)`,
    ...o.notes.map((n) => `  note        ${n}`),
    '',
    '  Query the cloud (window results, anomalies, the gateway\'s sync state):',
    `    curl -s ${auth} '${cloud}/v1/results?limit=5'`,
    `    curl -s ${auth} '${cloud}/v1/anomalies?limit=5'`,
    `    curl -s ${auth} '${cloud}/v1/fleet'`,
    `  Gateway metrics:  curl -s ${s.urls.metrics}`,
    '',
    o.offlineEveryMs !== null
      ? `  The uplink is switched off for ${o.offlineForMs / 1000}s every ${o.offlineEveryMs / 1000}s (the link switch answers 503, retry after 1 s).`
      : '  Try --offline-every 30s to watch the gateway go offline and catch up.',
    `  ${o.durationMs !== null ? `Stops by itself after ${o.durationMs / 1000}s; ` : ''}Ctrl-C stops everything.`,
    '',
  ];
  for (const l of lines) say(l);
}
