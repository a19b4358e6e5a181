import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, WeirError } from '../errors.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { parsePipeline, parsePipelineFile } from '../pipeline/parse.ts';
import type { PipelinePlan } from '../pipeline/plan.ts';
import { isObj, obj, only, port, str } from './fields.ts';
import { MAX_CAPACITY } from '../ingest/recent-readings.ts';
import { BUILTIN_PROFILES, validateProfiles, type DeviceProfile } from '../../devices/index.ts';

/**
 * The gateway's configuration file (YAML or JSON). Every setting is checked
 * at start-up; a bad one stops the gateway with a message naming the field
 * (e.g. `memory.budget`) and exit code 2.
 */
export interface GatewayConfig {
  readonly gatewayId: string;
  /** Directory of the state database and its spill file (`/var/lib/weir` on a board). */
  readonly stateDir: string;
  readonly durability: 'NORMAL' | 'FULL';
  /** SQLite page cache of the state database, bytes (gateway.sqliteCache, default 2 MiB). */
  readonly sqliteCacheBytes: number;
  readonly checkpointIntervalMs: number;
  /** Checkpoint early once operators hold this many changed rows (0 = interval only; null = the runtime's default, from memory.budget). */
  readonly checkpointMaxRows: number | null;
  readonly tickIntervalMs: number;
  readonly memory: { readonly budgetBytes: number; readonly policy: 'spill' | 'refuse-new-keys' } | null;
  readonly log: { readonly maxBytes: number | null; readonly maxAgeMs: number | null };
  readonly outbox: { readonly maxBytes: number };
  readonly quarantine: { readonly maxRows: number; readonly maxBytes: number };
  readonly ingest: {
    readonly maxPayloadBytes: number;
    readonly outOfRange: 'quarantine' | 'pass';
    /**
     * Readings remembered to recognise a redelivery (same device, metric and event time) as a duplicate:
     * the horizon is the last N readings accepted, N / reading rate in time. 0 disables de-duplication.
     */
    readonly dedupWindow: number;
  };
  readonly profiles: readonly DeviceProfile[];
  readonly pipelines: readonly PipelinePlan[];
  /** Transport sections, validated by their transports when they start (kept as plain data here). */
  readonly mqtt: Readonly<Record<string, unknown>> | null;
  readonly coap: Readonly<Record<string, unknown>> | null;
  readonly cloud: Readonly<Record<string, unknown>> | null;
  readonly http: { readonly host: string; readonly port: number } | null;
  /** Where the file was, to resolve relative paths in transport sections. */
  readonly baseDir: string;
}


const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "64MB", "512KiB", "1GB" (binary units) or a number of bytes. */
export function parseSize(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$/.exec(v);
    if (m) return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!]!);
  }
  throw new ConfigError(field, `expected a size like "64MB" or a number of bytes, got ${JSON.stringify(v)}`);
}


/**
 * The state database's page cache. Pages it does not hold are read from the kernel's page cache,
 * which the kernel can reclaim under memory pressure and the process's own heap cannot: 2 MiB took
 * 8 MB off the gateway's RSS in bench:ingest at the same throughput; checkpoints into a large table
 * of random keys may take a few ms longer (docs/BENCHMARKS.md).
 */
export const DEFAULT_SQLITE_CACHE_BYTES = 2 * 1024 ** 2;

function sqliteCache(v: unknown): number {
  const bytes = parseSize(v, 'gateway.sqliteCache');
  if (bytes < 64 * 1024 || bytes > 1024 ** 3) throw new ConfigError('gateway.sqliteCache', `expected a size from 64KiB to 1GiB, got ${JSON.stringify(v)}`);
  return bytes;
}

function readText(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(field, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** 5.5 MiB of memory (the table's 4.5 MiB and the ingestor's index of pending appends, 8 bytes a reading); at 100 readings/s, the last 22 minutes. */
export const DEFAULT_DEDUP_WINDOW = 131_072;
const MAX_DEDUP_WINDOW = MAX_CAPACITY;

const TOP = ['gateway', 'memory', 'log', 'outbox', 'quarantine', 'ingest', 'devices', 'pipelines', 'mqtt', 'coap', 'cloud', 'http'];

export function parseGatewayConfig(text: string, file: string): GatewayConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { strict: true, uniqueKeys: true });
  } catch (e) {
    throw new ConfigError('(file)', `${file} is not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const o = obj(doc ?? {}, '(top level)');
  only(o, '', TOP);
  const baseDir = dirname(resolve(file));
  const rel = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  const g = obj(o.gateway ?? {}, 'gateway');
  only(g, 'gateway', ['id', 'stateDir', 'durability', 'sqliteCache', 'checkpointInterval', 'checkpointMaxRows', 'tickInterval']);
  const gatewayId = g.id === undefined ? 'gateway' : str(g.id, 'gateway.id', /^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, _ . -');
  const durability = g.durability ?? 'FULL';
  if (durability !== 'FULL' && durability !== 'NORMAL') throw new ConfigError('gateway.durability', `expected FULL or NORMAL, got ${JSON.stringify(durability)}`);

  let memory: GatewayConfig['memory'] = null;
  if (o.memory !== undefined) {
    const m = obj(o.memory, 'memory');
    only(m, 'memory', ['budget', 'policy']);
    const policy = m.policy ?? 'spill';
    if (policy !== 'spill' && policy !== 'refuse-new-keys') throw new ConfigError('memory.policy', `expected spill or refuse-new-keys, got ${JSON.stringify(policy)}`);
    memory = { budgetBytes: parseSize(m.budget, 'memory.budget'), policy };
  }
  const lg = obj(o.log ?? {}, 'log');
  only(lg, 'log', ['maxBytes', 'maxAge']);
  const ob = obj(o.outbox ?? {}, 'outbox');
  only(ob, 'outbox', ['maxBytes']);
  const q = obj(o.quarantine ?? {}, 'quarantine');
  only(q, 'quarantine', ['maxRows', 'maxBytes']);
  const ing = obj(o.ingest ?? {}, 'ingest');
  only(ing, 'ingest', ['maxPayloadBytes', 'outOfRange', 'dedupWindow']);
  const outOfRange = ing.outOfRange ?? 'quarantine';
  if (outOfRange !== 'quarantine' && outOfRange !== 'pass') throw new ConfigError('ingest.outOfRange', `expected quarantine or pass, got ${JSON.stringify(outOfRange)}`);
  const dedupWindow = ing.dedupWindow ?? DEFAULT_DEDUP_WINDOW;
  if (typeof dedupWindow !== 'number' || !Number.isInteger(dedupWindow) || dedupWindow < 0 || dedupWindow > MAX_DEDUP_WINDOW) {
    throw new ConfigError('ingest.dedupWindow', `expected a whole number of readings in [0, ${MAX_DEDUP_WINDOW}] (0 = off), got ${JSON.stringify(dedupWindow)}`);
  }

  // Device profiles: the built-in ones, and/or files.
  const dv = obj(o.devices ?? {}, 'devices');
  only(dv, 'devices', ['builtin', 'profiles']);
  const profiles: DeviceProfile[] = dv.builtin === false ? [] : [...BUILTIN_PROFILES];
  if (dv.profiles !== undefined) {
    if (!Array.isArray(dv.profiles)) throw new ConfigError('devices.profiles', 'expected a list of profile files');
    dv.profiles.forEach((f, i) => {
      const path = rel(str(f, `devices.profiles[${i}]`));
      let parsed: unknown;
      try {
        parsed = parseYaml(readText(path, `devices.profiles[${i}]`));
      } catch (e) {
        if (e instanceof ConfigError) throw e;
        throw new ConfigError(`devices.profiles[${i}]`, `${path} is not valid YAML/JSON`, { cause: e });
      }
      try {
        profiles.push(...validateProfiles(parsed));
      } catch (e) {
        throw new ConfigError(`devices.profiles[${i}]`, `${path}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  // Pipelines: inline, or files.
  let pipelines: PipelinePlan[] = [];
  if (o.pipelines === undefined) throw new ConfigError('pipelines', 'is required: a list of pipelines, or of pipeline files');
  if (!Array.isArray(o.pipelines) || o.pipelines.length === 0) throw new ConfigError('pipelines', 'expected a non-empty list');
  o.pipelines.forEach((p, i) => {
    if (typeof p === 'string') {
      const path = rel(p);
      try {
        pipelines.push(...parsePipelineFile(readText(path, `pipelines[${i}]`), path));
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(`pipelines[${i}] (${p}) ${e.field}`, e.message, { cause: e });
        throw e;
      }
    } else pipelines.push(parsePipeline(p, `pipelines[${i}]`));
  });
  const names = new Set<string>();
  pipelines = pipelines.map((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`pipelines[${i}].name`, `duplicate pipeline name ${JSON.stringify(p.name)}`);
    names.add(p.name);
    return p;
  });

  let http: GatewayConfig['http'] = null;
  if (o.http !== undefined) {
    const h = obj(o.http, 'http');
    only(h, 'http', ['host', 'port']);
    http = { host: h.host === undefined ? '127.0.0.1' : str(h.host, 'http.host'), port: port(h.port ?? 9464, 'http.port') };
  }
  const section = (k: 'mqtt' | 'coap' | 'cloud'): Readonly<Record<string, unknown>> | null => (o[k] === undefined ? null : obj(o[k], k));

  return {
    gatewayId,
    stateDir: rel(g.stateDir === undefined ? '.weir' : str(g.stateDir, 'gateway.stateDir')),
    durability,
    sqliteCacheBytes: g.sqliteCache === undefined ? DEFAULT_SQLITE_CACHE_BYTES : sqliteCache(g.sqliteCache),
    checkpointIntervalMs: g.checkpointInterval === undefined ? 1000 : parseDuration(g.checkpointInterval, 'gateway.checkpointInterval'),
    checkpointMaxRows: g.checkpointMaxRows === undefined ? null : wholeNumber(g.checkpointMaxRows, 'gateway.checkpointMaxRows'),
    tickIntervalMs: g.tickInterval === undefined ? 1000 : parseDuration(g.tickInterval, 'gateway.tickInterval'),
    memory,
    log: {
      maxBytes: lg.maxBytes === undefined ? null : parseSize(lg.maxBytes, 'log.maxBytes'),
      maxAgeMs: lg.maxAge === undefined ? null : parseDuration(lg.maxAge, 'log.maxAge'),
    },
    outbox: { maxBytes: ob.maxBytes === undefined ? 64 * 1024 ** 2 : parseSize(ob.maxBytes, 'outbox.maxBytes') },
    quarantine: {
      maxRows: q.maxRows === undefined ? 100_000 : (typeof q.maxRows === 'number' && Number.isInteger(q.maxRows) && q.maxRows > 0 ? q.maxRows : (() => { throw new ConfigError('quarantine.maxRows', 'expected a whole number ≥ 1'); })()),
      maxBytes: q.maxBytes === undefined ? 16 * 1024 ** 2 : parseSize(q.maxBytes, 'quarantine.maxBytes'),
    },
    ingest: { maxPayloadBytes: ing.maxPayloadBytes === undefined ? 64 * 1024 : parseSize(ing.maxPayloadBytes, 'ingest.maxPayloadBytes'), outOfRange, dedupWindow },
    profiles,
    pipelines,
    mqtt: section('mqtt'),
    coap: section('coap'),
    cloud: section('cloud'),
    http,
    baseDir,
  };
}

export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new WeirError('E_IO', `cannot read config ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseGatewayConfig(text, file);
}

function wholeNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(field, `expected a whole number ≥ 0, got ${JSON.stringify(v)}`);
  return v;
}
