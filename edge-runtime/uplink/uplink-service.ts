import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { parseSize } from '../config/gateway-config.ts';
import type { GatewayConfig } from '../config/gateway-config.ts';
import type { StateStore } from '../state/store-types.ts';
import type { Clock } from '../engine/types.ts';
import type { Logger } from '../log.ts';
import { Uplink } from './uplink.ts';
import type { UplinkOptions } from './uplink-types.ts';
import type { HttpTimeouts } from './http-client.ts';

/**
 * The `cloud:` section of the gateway config file, and the uplink as a
 * gateway service (`weir run` starts it after the runtime, stops it before):
 *
 * ```yaml
 * cloud:
 *   endpoint: https://cloud.example:8787
 *   tokenFile: /etc/weir/cloud-token     # or the WEIR_CLOUD_TOKEN environment variable
 *   ca: /etc/weir/cloud-ca.pem           # extra CA (PEM) for a private certificate; optional
 *   batch: { maxRecords: 2000, maxBytes: 1MB, maxAge: 1s }
 *   maxInFlight: 2
 *   backlogBandwidth: 64KB               # per second, compressed; default: no cap
 *   heartbeat: 60s                       # 0 = off
 *   snapshot: 5m                         # 0 = off
 *   poll: 1s                             # how often to look at the outbox (default: the checkpoint interval)
 *   timeouts: { connect: 10s, response: 30s, bodyIdle: 15s, total: 2m }   # per request (these are the defaults)
 *   backoff: { base: 500ms, max: 60s }   # reconnect backoff, full jitter (defaults)
 *   finalUpload: 5s                      # on a clean stop, the last upload after the final checkpoint (0 = none)
 * ```
 */
export interface CloudSection {
  readonly endpoint: string;
  readonly token: string;
  readonly ca?: Buffer;
  readonly timeouts?: Partial<HttpTimeouts>;
  /** On a clean stop, how long the last upload after the final checkpoint may take (0 = none). */
  readonly finalUploadMs: number;
  readonly options: Omit<UplinkOptions, 'store' | 'cloud' | 'clock' | 'timer' | 'logger' | 'random' | 'figures'>;
}

const KEYS = ['endpoint', 'tokenFile', 'ca', 'batch', 'maxInFlight', 'backlogBandwidth', 'heartbeat', 'snapshot', 'poll', 'timeouts', 'backoff', 'finalUpload'];

export function parseCloudSection(c: Readonly<Record<string, unknown>>, baseDir: string, env: NodeJS.ProcessEnv, defaultPollMs: number): CloudSection {
  for (const k of Object.keys(c)) if (!KEYS.includes(k)) throw new ConfigError(`cloud.${k}`, `unknown setting (expected one of: ${KEYS.join(', ')})`);
  const endpoint = c.endpoint;
  if (typeof endpoint !== 'string' || !/^https?:\/\/[^/]+/.test(endpoint)) throw new ConfigError('cloud.endpoint', 'expected an http:// or https:// URL');
  const file = (v: unknown, field: string): string => {
    if (typeof v !== 'string' || v === '') throw new ConfigError(field, 'expected a file path');
    const p = isAbsolute(v) ? v : resolve(baseDir, v);
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new ConfigError(field, `cannot read ${p}: ${(e as Error).message}`, { cause: e });
    }
  };
  const token = (c.tokenFile !== undefined ? file(c.tokenFile, 'cloud.tokenFile') : env.WEIR_CLOUD_TOKEN ?? '').trim();
  if (token === '') throw new ConfigError('cloud.tokenFile', 'no token: give cloud.tokenFile or set WEIR_CLOUD_TOKEN');
  const b = c.batch ?? {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ConfigError('cloud.batch', 'expected a mapping');
  const bo = b as Record<string, unknown>;
  for (const k of Object.keys(bo)) if (!['maxRecords', 'maxBytes', 'maxAge'].includes(k)) throw new ConfigError(`cloud.batch.${k}`, 'unknown setting (expected maxRecords, maxBytes, maxAge)');
  const count = (v: unknown, field: string, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new ConfigError(field, `expected an integer in [1, ${max}]`);
    return v;
  };
  /** A mapping of durations, e.g. `timeouts: { response: 5s }`, as { [name]: ms } under the names given. */
  const durations = (v: unknown, field: string, names: Record<string, string>): Record<string, number> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(field, 'expected a mapping');
    const out: Record<string, number> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const name = names[k];
      if (name === undefined) throw new ConfigError(`${field}.${k}`, `unknown setting (expected ${Object.keys(names).join(', ')})`);
      out[name] = parseDuration(x, `${field}.${k}`);
    }
    return out;
  };
  const timeouts = c.timeouts === undefined ? undefined
    : (durations(c.timeouts, 'cloud.timeouts', { connect: 'connectMs', response: 'responseMs', bodyIdle: 'bodyIdleMs', total: 'totalMs' }) as Partial<HttpTimeouts>);
  const backoff = c.backoff === undefined ? undefined : durations(c.backoff, 'cloud.backoff', { base: 'baseMs', max: 'maxMs' });
  const options: CloudSection['options'] = {
    ...(backoff !== undefined ? { backoff } : {}),
    batch: {
      ...(bo.maxRecords !== undefined ? { maxRecords: count(bo.maxRecords, 'cloud.batch.maxRecords', 20_000) } : {}),
      ...(bo.maxBytes !== undefined ? { maxBytes: parseSize(bo.maxBytes, 'cloud.batch.maxBytes') } : {}),
      ...(bo.maxAge !== undefined ? { maxAgeMs: parseDuration(bo.maxAge, 'cloud.batch.maxAge', { allowZero: true }) } : {}),
    },
    ...(c.maxInFlight !== undefined ? { maxInFlight: count(c.maxInFlight, 'cloud.maxInFlight', 8) } : {}),
    ...(c.backlogBandwidth !== undefined ? { backlogBytesPerSec: parseSize(c.backlogBandwidth, 'cloud.backlogBandwidth') } : {}),
    heartbeatIntervalMs: c.heartbeat !== undefined ? parseDuration(c.heartbeat, 'cloud.heartbeat', { allowZero: true }) : 60_000,
    snapshotIntervalMs: c.snapshot !== undefined ? parseDuration(c.snapshot, 'cloud.snapshot', { allowZero: true }) : 300_000,
    pollIntervalMs: c.poll !== undefined ? parseDuration(c.poll, 'cloud.poll') : Math.max(200, defaultPollMs || 1000),
  };
  const finalUploadMs = c.finalUpload !== undefined ? parseDuration(c.finalUpload, 'cloud.finalUpload', { allowZero: true }) : 5000;
  return { endpoint, token, ...(c.ca !== undefined ? { ca: Buffer.from(file(c.ca, 'cloud.ca')) } : {}), ...(timeouts !== undefined ? { timeouts } : {}), finalUploadMs, options };
}

/** What the service needs of the gateway (a structural subset of Gateway, so tests can pass a literal). */
export interface UplinkHost {
  readonly config: Pick<GatewayConfig, 'gatewayId' | 'cloud' | 'baseDir' | 'checkpointIntervalMs'>;
  readonly store: StateStore;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The runtime, when there is one: checkpoints wake the uplink, and heartbeats carry the watermark lag. */
  readonly runtime?: { onCheckpoint(fn: () => void): void; watermarkLagMs(): number | null };
}

export interface UplinkService {
  readonly name: 'uplink';
  readonly uplink: Uplink;
  /**
   * The gateway stops this service after the runtime's final checkpoint (not before, like the
   * transports): `stop()` first makes a bounded last upload of what that checkpoint committed.
   */
  readonly stopAfterRuntime: true;
  /** Clock time of the last batch the cloud acknowledged, or null. */
  lastAckedAt(): number | null;
  /** Whether the last request to the cloud succeeded (true before the first). */
  lastRequestOk(): boolean;
  stop(): Promise<void>;
}

/** A ServiceFactory for `weir run`: null when the config has no `cloud:` section. */
export async function startUplinkService(g: UplinkHost, env: NodeJS.ProcessEnv = process.env): Promise<UplinkService | null> {
  if (g.config.cloud === null) return null;
  const s = parseCloudSection(g.config.cloud, g.config.baseDir, env, g.config.checkpointIntervalMs);
  const uplink = new Uplink({
    store: g.store,
    cloud: { endpoint: s.endpoint, gatewayId: g.config.gatewayId, token: s.token, ...(s.ca !== undefined ? { ca: s.ca } : {}), ...(s.timeouts !== undefined ? { timeouts: s.timeouts } : {}) },
    clock: g.clock,
    logger: g.logger,
    ...(g.runtime ? { figures: () => ({ watermarkLagMs: g.runtime!.watermarkLagMs() }) } : {}),
    ...s.options,
  });
  g.runtime?.onCheckpoint(() => uplink.notify());
  let lastAckedAt: number | null = null;
  let lastOk = true;
  uplink.onEvent((e) => {
    if (e.type === 'acked' || e.type === 'heartbeat' || e.type === 'snapshot') lastOk = true;
    if (e.type === 'acked') lastAckedAt = g.clock.now();
    if (e.type === 'failed' || e.type === 'fatal') lastOk = false;
    if (e.type === 'fatal') g.logger.log('error', 'uplink stopped', { code: e.code, message: e.message });
  });
  uplink.start();
  g.logger.log('info', 'uplink started', { endpoint: s.endpoint, gatewayId: g.config.gatewayId });
  return {
    name: 'uplink',
    uplink,
    stopAfterRuntime: true,
    lastAckedAt: () => lastAckedAt,
    lastRequestOk: () => lastOk,
    stop: async () => {
      await finalUpload(uplink, g, s.finalUploadMs);
      await uplink.stop();
    },
  };
}

/**
 * On a clean stop, after the final checkpoint: gives the uplink up to `ms` to send what is
 * committed, so a planned restart does not leave the last results waiting for the next start.
 * Ends early when the cloud holds everything, or at the first failure (the link is down: the
 * outbox keeps the rows, nothing is lost, and a stop must not hang on a dead link).
 */
async function finalUpload(uplink: Uplink, g: UplinkHost, ms: number): Promise<void> {
  if (ms <= 0) return;
  let off: () => void = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  let target = Number.POSITIVE_INFINITY;
  const outcome = new Promise<'done' | 'failed' | 'timeout'>((resolve) => {
    off = uplink.onEvent((e) => {
      if (e.type === 'acked' && uplink.stats.contiguousSeq >= target) resolve('done');
      else if (e.type === 'failed' || e.type === 'fatal') resolve('failed');
    });
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    target = (await g.store.outboxStats(g.clock.now())).nextSeq - 1;
    if (uplink.stats.contiguousSeq >= target) return;
    uplink.notify();
    const result = await outcome;
    g.logger.log(result === 'done' ? 'info' : 'warn', 'uplink final upload', { result, contiguousSeq: uplink.stats.contiguousSeq, committedSeq: target });
  } finally {
    off();
    clearTimeout(timer);
  }
}
