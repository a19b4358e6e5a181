/**
 * The `weir-sim` command line → a run description. Pure: no I/O except
 * reading a profiles file; every mistake is a SimError E_SIM_USAGE naming
 * the option.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { BUILTIN_PROFILES, ProfileError, validateProfiles } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/index.ts';
import { DEFAULT_FAULT_WEIGHTS, FAULT_KINDS } from './core/faults.ts';
import type { FaultKind } from './core/faults.ts';
import type { FleetEntry } from './core/fleet.ts';
import { seedFrom } from './core/prng.ts';
import { DEFAULT_FAULTS, DEFAULT_LINK, DEFAULT_START, defaultConfig } from './core/sim-config.ts';
import type { SimConfig } from './core/sim-config.ts';
import { SimError } from './core/sim-error.ts';
import { labelsPathFor } from './record/record-run.ts';

export const USAGE = `weir-sim — a seeded fleet of simulated sensors over MQTT and CoAP, with ground truth

Usage: weir-sim --devices PROFILE=N[,PROFILE=N…] [options]

Fleet
  --devices P=N,...        devices per profile (repeatable). Devices of CoAP profiles speak CoAP,
                           the others MQTT. Built-in profiles: ${BUILTIN_PROFILES.map((p) => p.name).join(', ')}
  --interval P=D,...       sampling interval per profile (e.g. env-sensor=1s)
  --profiles FILE          more profiles, JSON or YAML (a profile with a built-in's name replaces it)
  --seed S                 seed; the same seed gives the same fleet and readings (default 1)
Time
  --duration D             simulated duration, e.g. 90s, 10m, 2h (record mode: required)
  --start T                simulated start, ISO 8601 or ms since epoch
                           (record default 2026-01-01T00:00:00Z; live default: now)
  --time-scale X           live: simulated seconds per wall-clock second (default 1)
Record mode
  --record FILE            write the readings as weir replay NDJSON instead of sending them
  --labels FILE            ground-truth labels NDJSON (default: FILE.labels.ndjson beside --record)
Live mode
  --broker URL             MQTT broker (default mqtt://127.0.0.1:1883)
  --qos 0|1                override every profile's QoS
  --connections per-device|N
                           one MQTT client per device (client id = device id; default) or N shared
  --coap-host HOST         address the CoAP devices bind to (default 127.0.0.1)
  --coap-manifest FILE     write the CoAP endpoints (JSON) for the gateway to observe
Faults and firmware behaviour
  --fault-rate N           faults per device·metric per simulated day (default ${DEFAULT_FAULTS.perDay}; 0 = none)
  --fault-kinds K,...      subset of ${FAULT_KINDS.join(', ')}
  --bad-rate P             share of messages sent malformed, 0..1 (default 0)
  --outages-per-day N      random link outages per MQTT device per day (default ${DEFAULT_LINK.outagesPerDay})
  --outage-mean D          mean outage length (default 90s)
  --storm-every D          reconnect storm period: all (--storm-fraction) MQTT devices drop at once
  --storm-duration D       how long a storm's outage lasts (default 60s)
  --storm-fraction F       share of MQTT devices a storm takes down (default 1)
  --storm-first D          offset of the first storm from the start (default: --storm-every)
  --skew-max D             per-device clock offset bound (default 2s)
  --drift-max-ppm N        per-device clock drift bound (default 50)
  --buffer-limit N         messages a device buffers while offline (default ${DEFAULT_LINK.bufferLimit})
  --backoff-base D, --backoff-cap D
                           reconnect backoff (default 1s, 60s; equal jitter)
Other
  --summary FILE           write the run summary (JSON) here instead of stderr
  --quiet                  no progress lines
  --help
`;

export interface CliRun {
  readonly mode: 'record' | 'live';
  readonly config: SimConfig;
  readonly recordPath: string | null;
  readonly labelsPath: string | null;
  readonly summaryPath: string | null;
  readonly quiet: boolean;
  readonly timeScale: number;
  readonly broker: string;
  readonly qos: 0 | 1 | undefined;
  readonly connections: 'per-device' | number;
  readonly coapHost: string;
  readonly coapManifest: string | null;
}

const OPTIONS = {
  devices: { type: 'string', multiple: true },
  interval: { type: 'string', multiple: true },
  profiles: { type: 'string' },
  seed: { type: 'string' },
  duration: { type: 'string' },
  start: { type: 'string' },
  'time-scale': { type: 'string' },
  record: { type: 'string' },
  labels: { type: 'string' },
  broker: { type: 'string' },
  qos: { type: 'string' },
  connections: { type: 'string' },
  'coap-host': { type: 'string' },
  'coap-manifest': { type: 'string' },
  'fault-rate': { type: 'string' },
  'fault-kinds': { type: 'string' },
  'bad-rate': { type: 'string' },
  'outages-per-day': { type: 'string' },
  'outage-mean': { type: 'string' },
  'storm-every': { type: 'string' },
  'storm-duration': { type: 'string' },
  'storm-fraction': { type: 'string' },
  'storm-first': { type: 'string' },
  'skew-max': { type: 'string' },
  'drift-max-ppm': { type: 'string' },
  'buffer-limit': { type: 'string' },
  'backoff-base': { type: 'string' },
  'backoff-cap': { type: 'string' },
  summary: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

const usage = (option: string, msg: string): SimError => new SimError('E_SIM_USAGE', `--${option}: ${msg}`);

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `1.5h`, `500ms` → ms. A unit is required: a bare number is ambiguous. */
export function parseDuration(option: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (m === null) throw usage(option, `"${v}" is not a duration (e.g. 500ms, 90s, 10m, 2h, 1d)`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]]);
}

function parseNumber(option: string, v: string, min: number, max = Number.POSITIVE_INFINITY): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw usage(option, `"${v}" must be a number in [${min}, ${max}]`);
  return n;
}

function parseTime(option: string, v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw usage(option, `"${v}" is neither ms since epoch nor an ISO 8601 time`);
  return t;
}

/** `a=1,b=2` (possibly repeated) → [[a, '1'], [b, '2']]. */
function pairs(option: string, values: readonly string[] | undefined): [string, string][] {
  const out: [string, string][] = [];
  for (const v of values ?? []) {
    for (const part of v.split(',').filter((p) => p.trim() !== '')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw usage(option, `"${part}" is not PROFILE=VALUE`);
      out.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
    }
  }
  return out;
}

function loadProfiles(path: string): DeviceProfile[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usage('profiles', `cannot read ${path}`);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new SimError('E_SIM_USAGE', `--profiles: ${path} does not parse`, { cause: e });
  }
  try {
    return validateProfiles(data);
  } catch (e) {
    if (e instanceof ProfileError) throw new SimError('E_SIM_CONFIG', `--profiles ${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Parses argv (without `node script`). Returns null for --help. `now` supplies live mode's default start. */
export function parseCli(argv: readonly string[], now: () => number): CliRun | null {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new SimError('E_SIM_USAGE', (e as Error).message, { cause: e });
  }
  if (values.help === true) return null;

  const profiles = new Map(BUILTIN_PROFILES.map((p) => [p.name, p]));
  if (values.profiles !== undefined) for (const p of loadProfiles(values.profiles)) profiles.set(p.name, p);
  const profile = (option: string, name: string): DeviceProfile => {
    const p = profiles.get(name);
    if (p === undefined) throw usage(option, `unknown profile "${name}" (known: ${[...profiles.keys()].join(', ')})`);
    return p;
  };

  const counts = new Map<string, number>();
  for (const [name, n] of pairs('devices', values.devices)) {
    profile('devices', name);
    counts.set(name, (counts.get(name) ?? 0) + parseNumber('devices', n, 0, 1_000_000));
  }
  if ([...counts.values()].every((n) => n === 0)) throw usage('devices', 'give at least one PROFILE=N with N > 0');
  const intervals = new Map<string, number>();
  for (const [name, d] of pairs('interval', values.interval)) {
    profile('interval', name);
    intervals.set(name, parseDuration('interval', d));
  }
  const fleet: FleetEntry[] = [...counts].filter(([, n]) => n > 0).map(([name, count]) => {
    const iv = intervals.get(name);
    return { profile: profile('devices', name), count: Math.floor(count), ...(iv === undefined ? {} : { intervalMs: iv }) };
  });

  const mode = values.record === undefined ? 'live' : 'record';
  const durationMs = values.duration === undefined ? null : parseDuration('duration', values.duration);
  if (mode === 'record' && durationMs === null) throw usage('duration', 'record mode needs a duration');
  const start = values.start === undefined ? (mode === 'record' ? DEFAULT_START : Math.floor(now())) : parseTime('start', values.start);

  let weights: Record<FaultKind, number> = { ...DEFAULT_FAULT_WEIGHTS };
  if (values['fault-kinds'] !== undefined) {
    const kinds = values['fault-kinds'].split(',').map((k) => k.trim());
    for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw usage('fault-kinds', `unknown kind "${k}"`);
    weights = Object.fromEntries(FAULT_KINDS.map((k) => [k, kinds.includes(k) ? DEFAULT_FAULT_WEIGHTS[k] : 0])) as Record<FaultKind, number>;
  }
  const num = (o: keyof typeof OPTIONS, dflt: number, min: number, max?: number): number => {
    const v = values[o];
    return typeof v === 'string' ? parseNumber(o, v, min, max) : dflt;
  };
  const dur = (o: keyof typeof OPTIONS, dflt: number): number => {
    const v = values[o];
    return typeof v === 'string' ? parseDuration(o, v) : dflt;
  };
  const stormEvery = values['storm-every'] === undefined ? null : parseDuration('storm-every', values['storm-every']);
  const config = defaultConfig(fleet, {
    seed: values.seed === undefined ? 1 : seedFrom(values.seed),
    start,
    durationMs,
    badRate: num('bad-rate', 0, 0, 1),
    faults: { perDay: num('fault-rate', DEFAULT_FAULTS.perDay, 0), weights },
    skewMaxMs: dur('skew-max', 2000),
    driftMaxPpm: num('drift-max-ppm', 50, 0, 10_000),
    link: {
      ...DEFAULT_LINK,
      outagesPerDay: num('outages-per-day', DEFAULT_LINK.outagesPerDay, 0),
      meanOutageMs: dur('outage-mean', DEFAULT_LINK.meanOutageMs),
      storm: stormEvery === null ? null : {
        everyMs: stormEvery,
        durationMs: dur('storm-duration', 60_000),
        fraction: num('storm-fraction', 1, 0, 1),
        firstAtMs: dur('storm-first', stormEvery),
      },
      bufferLimit: Math.floor(num('buffer-limit', DEFAULT_LINK.bufferLimit, 0)),
      backoffBaseMs: dur('backoff-base', DEFAULT_LINK.backoffBaseMs),
      backoffCapMs: dur('backoff-cap', DEFAULT_LINK.backoffCapMs),
    },
  });

  let qos: 0 | 1 | undefined;
  if (values.qos !== undefined) {
    if (values.qos !== '0' && values.qos !== '1') throw usage('qos', 'must be 0 or 1');
    qos = values.qos === '1' ? 1 : 0;
  }
  const conn = values.connections ?? 'per-device';
  const connections = conn === 'per-device' ? 'per-device' : Math.floor(parseNumber('connections', conn, 1, 100_000));
  const recordPath = values.record ?? null;
  return {
    mode,
    config,
    recordPath,
    labelsPath: values.labels ?? (recordPath === null ? null : labelsPathFor(recordPath)),
    summaryPath: values.summary ?? null,
    quiet: values.quiet === true,
    timeScale: num('time-scale', 1, 0.001, 1_000_000),
    broker: values.broker ?? 'mqtt://127.0.0.1:1883',
    qos,
    connections,
    coapHost: values['coap-host'] ?? '127.0.0.1',
    coapManifest: values['coap-manifest'] ?? null,
  };
}
