import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { BUILTIN_PROFILES, deviceIdPrefix } from '../../devices/index.ts';
import { CredentialsFile, GENERATED_SECRET_SCRYPT, generateSecret } from '../ingest/mqtt/index.ts';
import { WeirError } from '../errors.ts';
import { DemoError } from './demo-errors.ts';
import { entryFor, type Program } from './entries.ts';

/**
 * What the stack (stack.ts) writes and provisions before it starts
 * anything: the work dir's files, the cloud's tokens, the device profiles
 * with their secrets, device credentials, the simulator's arguments and
 * the gateway's generated config.
 */
export const HOST = '127.0.0.1';

export interface SimOptions {
  /** Devices per built-in profile, e.g. { 'env-sensor': 6, 'power-meter': 2 }. */
  readonly devices: Readonly<Record<string, number>>;
  readonly seed?: number;
  /** Simulated seconds per wall-clock second (default 1). */
  readonly timeScale?: number;
  /** Faults per device·metric per simulated day (default: the simulator's, 4). */
  readonly faultRate?: number;
  readonly faultKinds?: readonly string[];
  /** Share of messages sent malformed (default 0). */
  readonly badRate?: number;
  /** Random link outages per MQTT device per simulated day (default 0 here: outages are the tests' to make). */
  readonly outagesPerDay?: number;
  /** Simulated duration, e.g. '10m' (default: until stopped). */
  readonly duration?: string;
  /** Sampling interval per profile, e.g. { 'env-sensor': '1s' }. */
  readonly intervals?: Readonly<Record<string, string>>;
  readonly extraArgs?: readonly string[];
}

/** Everything lives under one work dir (mode 0700; secrets 0600). */
export interface StackFiles {
  readonly dir: string;
  readonly cloudDb: string;
  readonly gatewayConfig: string;
  readonly gatewayStateDir: string;
  readonly gatewayDb: string;
  /** The gateway's credentials file for the embedded broker (what `weir device add` writes). */
  readonly deviceCredentials: string;
  readonly gatewayToken: string;
  readonly readerToken: string;
  /** The one secret of the simulated MQTT devices, and the PSK of the DTLS devices. */
  readonly deviceSecret: string;
  readonly coapPsk: string;
  readonly profiles: string;
  readonly coapManifest: string;
  readonly logs: string;
}

export function stackFiles(dir: string): StackFiles {
  const d = resolve(dir);
  return {
    dir: d,
    cloudDb: join(d, 'cloud.db'),
    gatewayConfig: join(d, 'gateway.yaml'),
    gatewayStateDir: join(d, 'gateway'),
    gatewayDb: join(d, 'gateway', 'weir.db'),
    deviceCredentials: join(d, 'gateway', 'devices.json'),
    gatewayToken: join(d, 'gateway.token'),
    readerToken: join(d, 'reader.token'),
    deviceSecret: join(d, 'device.secret'),
    coapPsk: join(d, 'coap-psk.secret'),
    profiles: join(d, 'profiles.json'),
    coapManifest: join(d, 'coap-devices.json'),
    logs: join(d, 'logs'),
  };
}

export interface CoapEndpointInfo {
  readonly deviceId: string;
  readonly profile: string;
  readonly url: string;
}

/** True when libcoap's DTLS server is installed (the simulator needs it for DTLS devices such as cold-room). */
export function hasLibcoap(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, 'coap-server-openssl')));
}

/** A port the OS says is free now. Only for the one case where a child cannot report its own (stack.ts header). */
export async function reservePort(): Promise<number> {
  const s = createServer();
  s.listen(0, HOST);
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

export function writeSecret(path: string, value: string): void {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600); // the file may have existed with a wider mode
}

/**
 * Runs one command of a program to completion (e.g. `weir restore --from-cloud ...`,
 * `weir-cloud gateway token NAME`), started like the stack's children. stdout may
 * hold a token: it is returned, never logged.
 */
export async function runProgram(program: Program, args: readonly string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e = entryFor(program);
  const child = spawn(e.command, [...e.args, ...args], { env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A provisioning command: its stderr goes to the log, its stdout (a token) is returned. */
async function provisionOnce(program: Program, args: readonly string[], env: NodeJS.ProcessEnv, logFile: string): Promise<string> {
  const r = await runProgram(program, args, { env });
  writeFileSync(logFile, `$ ${program} ${args.join(' ')}\n${r.stderr}`, { flag: 'a', mode: 0o600 });
  if (r.code !== 0) throw new DemoError('E_DEMO_PROVISION', `${program} ${args.slice(0, 2).join(' ')} failed (exit ${r.code}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  return r.stdout.trim();
}

/** The gateway's and a reader's token, as `weir-cloud gateway add` / `reader add` print them, into 0600 files. Once per work dir. */
export async function provisionCloud(f: StackFiles, gatewayId: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (existsSync(f.gatewayToken) && existsSync(f.readerToken)) return;
  const log = join(f.logs, 'provision.log');
  writeSecret(f.gatewayToken, await provisionOnce('weir-cloud', ['gateway', 'add', gatewayId, '--db', f.cloudDb], env, log));
  writeSecret(f.readerToken, await provisionOnce('weir-cloud', ['reader', 'add', 'demo-reader', '--db', f.cloudDb], env, log));
}

/** Device ids of a fleet by transport, as the simulator names them (`env-0001`, ...). */
export function fleetIds(devices: Readonly<Record<string, number>>): { mqtt: string[]; coap: string[] } {
  const mqtt: string[] = [];
  const coap: string[] = [];
  for (const [name, n] of Object.entries(devices)) {
    const p = BUILTIN_PROFILES.find((x) => x.name === name);
    if (p === undefined) throw new WeirError('E_USAGE', `unknown device profile ${name} (built-in: ${BUILTIN_PROFILES.map((x) => x.name).join(', ')})`);
    for (let i = 1; i <= n; i++) (p.transport.kind === 'coap' ? coap : mqtt).push(`${deviceIdPrefix(p)}-${String(i).padStart(4, '0')}`);
  }
  return { mqtt, coap };
}

/** The built-in profiles with credentials pointing at this stack's secret files; the gateway and the simulator both read it. */
export function writeProfiles(f: StackFiles): void {
  if (!existsSync(f.deviceSecret)) writeSecret(f.deviceSecret, generateSecret());
  if (!existsSync(f.coapPsk)) writeSecret(f.coapPsk, randomBytes(16).toString('hex'));
  const profiles = BUILTIN_PROFILES.map((p) => {
    if (p.transport.kind === 'mqtt') return { ...p, credentials: { secret: `file:${f.deviceSecret}` } };
    if (p.credentials !== undefined) return { ...p, credentials: { ...p.credentials, secret: `file:${f.coapPsk}` } };
    return p;
  });
  writeFileSync(f.profiles, JSON.stringify({ profiles }, null, 2) + '\n');
}

/** What `weir device add ID --secret-stdin` does, for every MQTT device, with the fleet's one secret. */
export async function provisionDevices(f: StackFiles, ids: readonly string[]): Promise<void> {
  const file = CredentialsFile.load(f.deviceCredentials, { createIfMissing: true });
  const secret = readFileSync(f.deviceSecret, 'utf8').trim();
  // A generated random secret, not a password a person chose: the cheaper scrypt setting weir uses for those.
  for (const id of ids) await file.add(id, { secret, replace: true, params: GENERATED_SECRET_SCRYPT });
  file.save();
}

export function simArgs(sim: SimOptions, f: StackFiles, mqttPort: number): string[] {
  const a = [
    '--devices', Object.entries(sim.devices).filter(([, n]) => n > 0).map(([p, n]) => `${p}=${n}`).join(','),
    '--profiles', f.profiles,
    '--broker', `mqtt://${HOST}:${mqttPort}`,
    '--coap-host', HOST,
    '--coap-manifest', f.coapManifest,
    '--seed', String(sim.seed ?? 1),
    '--time-scale', String(sim.timeScale ?? 1),
    '--outages-per-day', String(sim.outagesPerDay ?? 0),
    // Reconnect quickly after a gateway restart (simulated time; the default cap is a minute).
    '--backoff-cap', '5s',
  ];
  if (sim.faultRate !== undefined) a.push('--fault-rate', String(sim.faultRate));
  if (sim.faultKinds !== undefined) a.push('--fault-kinds', sim.faultKinds.join(','));
  if (sim.badRate !== undefined) a.push('--bad-rate', String(sim.badRate));
  if (sim.duration !== undefined) a.push('--duration', sim.duration);
  if (sim.intervals !== undefined) a.push('--interval', Object.entries(sim.intervals).map(([p, d]) => `${p}=${d}`).join(','));
  return [...a, ...(sim.extraArgs ?? [])];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A gateway config file to start from, with its relative pipeline paths made absolute (the generated config lives elsewhere). */
export function loadBaseConfig(path: string): Obj {
  const base = parseYaml(readFileSync(path, 'utf8')) as unknown;
  if (!isObj(base)) throw new WeirError('E_CONFIG', `${path}: not a mapping`);
  if (Array.isArray(base.pipelines)) base.pipelines = base.pipelines.map((p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(dirname(path), p) : p));
  return base;
}

export interface GatewayConfigInput {
  readonly base: Obj;
  readonly files: StackFiles;
  readonly gatewayId: string;
  readonly ports: { readonly http: number; readonly mqtt: number; readonly uplink: number };
  readonly coap: readonly CoapEndpointInfo[];
  readonly mqttAuth: 'credentials' | 'anonymous';
  readonly checkpointInterval?: string | undefined;
  readonly pipelines?: string | undefined;
  readonly cloud?: Readonly<Obj> | undefined;
  readonly extra?: Readonly<Obj> | undefined;
}

/** The gateway config: the base config, the stack's paths and ports, then `extra` over it (one level deep), as YAML. */
export function gatewayConfigText(i: GatewayConfigInput): string {
  const f = i.files;
  const gw = isObj(i.base.gateway) ? i.base.gateway : {};
  const cfg: Obj = {
    ...i.base,
    gateway: { ...gw, id: i.gatewayId, stateDir: f.gatewayStateDir, ...(i.checkpointInterval !== undefined ? { checkpointInterval: i.checkpointInterval } : {}) },
    devices: { builtin: false, profiles: [f.profiles] },
    ...(i.pipelines !== undefined ? { pipelines: [resolve(i.pipelines)] } : {}),
    http: { host: HOST, port: i.ports.http },
    mqtt: { embedded: { host: HOST, port: i.ports.mqtt, auth: i.mqttAuth, credentials: f.deviceCredentials } },
    ...(i.coap.length > 0 ? { coap: { devices: i.coap.map((e) => ({ deviceId: e.deviceId, endpoint: new URL(e.url).host })) } } : {}),
    cloud: {
      endpoint: `http://${HOST}:${i.ports.uplink}`,
      tokenFile: f.gatewayToken,
      heartbeat: '5s', // the cloud's "last seen" stays fresh while the gateway has nothing to send
      ...i.cloud,
    },
  };
  if (i.mqttAuth === 'anonymous') delete (cfg.mqtt as { embedded: Obj }).embedded.credentials;
  for (const [k, v] of Object.entries(i.extra ?? {})) cfg[k] = isObj(v) && isObj(cfg[k]) ? { ...cfg[k], ...v } : v;
  return `# Generated by the weir stack (edge-runtime/demo/stack.ts), rewritten at every gateway start.\n${toYaml(cfg)}`;
}
