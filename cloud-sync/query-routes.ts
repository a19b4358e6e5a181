import { SNAPSHOT_MEDIA_TYPE, WireError, type GatewaySyncStatus } from './protocol.ts';
import { decodeAnomaly, decodeWindow } from './payloads.ts';
import { finalView, type WindowRow } from './final-view.ts';
import { json, type AppResponse, type RouteContext } from './http-types.ts';
import type { CloudStorage, GatewayRow, RecordQuery } from './storage/storage-types.ts';

/**
 * The JSON query API. Readers see every gateway; a gateway credential sees
 * only its own data (its status, seqs and snapshot: what restore needs).
 */
export interface QueryDeps {
  readonly storage: CloudStorage;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 50_000;

/** The gateway a caller may read: readers any, a gateway only itself. */
function readable(ctx: RouteContext, gateway: string | undefined): string | undefined {
  const p = ctx.principal;
  if (p === null) throw new WireError('E_UNAUTHENTICATED', 'a credential is required');
  if (p.role === 'reader') return gateway;
  if (gateway !== undefined && gateway !== p.gateway) throw new WireError('E_FORBIDDEN', `a gateway credential reads only its own data (${p.gateway})`);
  return p.gateway;
}

function param(q: URLSearchParams, name: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw new WireError('E_INVALID', `query: ${name} given more than once`);
  const v = all[0];
  if (v === undefined || v === '') return undefined;
  if (v.length > 256) throw new WireError('E_INVALID', `query: ${name} is too long`);
  return v;
}

/** ms since the epoch, or an ISO 8601 date. */
function time(q: URLSearchParams, name: string, dflt: number): number {
  const v = param(q, name);
  if (v === undefined) return dflt;
  const n = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new WireError('E_INVALID', `query: ${name} must be ms since the epoch or an ISO date`);
  return n;
}

function limit(q: URLSearchParams): number {
  const v = param(q, 'limit');
  if (v === undefined) return DEFAULT_QUERY_LIMIT;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= MAX_QUERY_LIMIT)) throw new WireError('E_INVALID', `query: limit must be an integer in [1, ${MAX_QUERY_LIMIT}]`);
  return n;
}

function recordQuery(ctx: RouteContext, kind: string): RecordQuery & { limit: number } {
  const q = ctx.query;
  const known = new Set(['gateway', 'device', 'metric', 'pipeline', 'from', 'to', 'limit']);
  for (const k of q.keys()) if (!known.has(k)) throw new WireError('E_INVALID', `query: unknown parameter ${k}`);
  const gateway = readable(ctx, param(q, 'gateway'));
  const deviceId = param(q, 'device');
  const metric = param(q, 'metric');
  const pipeline = param(q, 'pipeline');
  const from = time(q, 'from', -8.64e15);
  const to = time(q, 'to', 8.64e15);
  if (to <= from) throw new WireError('E_INVALID', 'query: to must be after from');
  return {
    kind, from, to, limit: limit(q),
    ...(gateway !== undefined ? { gateway } : {}), ...(deviceId !== undefined ? { deviceId } : {}),
    ...(metric !== undefined ? { metric } : {}), ...(pipeline !== undefined ? { pipeline } : {}),
  };
}

/** GET /v1/results: window results, final view (versions, retractions and merged windows applied). */
export async function getResults(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const rq = recordQuery(ctx, 'window');
  const recs = await deps.storage.queryRecords({ ...rq, limit: rq.limit + 1 });
  const truncated = recs.length > rq.limit;
  const rows: WindowRow[] = [];
  let undecodable = 0;
  for (const r of recs.slice(0, rq.limit)) {
    const w = decodeWindow(r.payload);
    if (w === null) undecodable++;
    else rows.push({ gateway: r.gateway, seq: r.seq, series: r.series, replayed: r.replayed, receivedAtMs: r.receivedAtMs, deviceId: r.deviceId, metric: r.metric, window: w });
  }
  return json(200, { results: finalView(rows, rq.from, rq.to), recordsRead: rows.length + undecodable, undecodable, truncated });
}

/** GET /v1/anomalies */
export async function getAnomalies(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const rq = recordQuery(ctx, 'anomaly');
  const recs = await deps.storage.queryRecords({ ...rq, limit: rq.limit + 1 });
  const anomalies = [];
  for (const r of recs.slice(0, rq.limit)) {
    const a = decodeAnomaly(r.payload);
    if (a !== null) anomalies.push({ gateway: r.gateway, seq: r.seq, replayed: r.replayed, receivedAtMs: r.receivedAtMs, ...a });
  }
  return json(200, { anomalies, truncated: recs.length > rq.limit });
}

/** GET /v1/gateways/:gw/seqs/:seq — has seq N from gateway G arrived? */
export async function getSeq(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const gateway = readable(ctx, ctx.params[0]!)!;
  const raw = ctx.params[1]!;
  const seq = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(Number.isSafeInteger(seq) && seq >= 1)) throw new WireError('E_INVALID', 'seq must be an integer ≥ 1');
  const s = await deps.storage.seqStatus(gateway, seq);
  if (s === null) throw new WireError('E_NOT_FOUND', `no gateway ${gateway}`);
  return json(200, s);
}

async function oneGateway(ctx: RouteContext, deps: QueryDeps): Promise<GatewayRow> {
  const gateway = readable(ctx, ctx.params[0]!)!;
  const g = (await deps.storage.gateways(gateway))[0];
  if (g === undefined) throw new WireError('E_NOT_FOUND', `no gateway ${gateway}`);
  return g;
}

/** GET /v1/gateways/:gw/status — what restore and the uplink need: the cloud's seqs. */
export async function getStatus(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const g = await oneGateway(ctx, deps);
  const s: GatewaySyncStatus = {
    gatewayId: g.name, contiguousSeq: g.contiguousSeq, highestSeq: g.highestSeq, lastSeenMs: g.lastSeenMs,
    latestCheckpointId: g.latestCheckpoint?.checkpointId ?? null,
  };
  return json(200, s);
}

/** GET /v1/gateways/:gw/checkpoint — the latest snapshot's metadata. */
export async function getCheckpointMeta(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const g = await oneGateway(ctx, deps);
  if (g.latestCheckpoint === null) throw new WireError('E_NOT_FOUND', `gateway ${g.name} has uploaded no checkpoint`);
  return json(200, { gatewayId: g.name, ...g.latestCheckpoint });
}

/** GET /v1/gateways/:gw/checkpoint/snapshot — the latest snapshot body, as uploaded. */
export async function getSnapshot(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const gateway = readable(ctx, ctx.params[0]!)!;
  const s = await deps.storage.latestCheckpoint(gateway);
  if (s === null) throw new WireError('E_NOT_FOUND', `gateway ${gateway} has no checkpoint (or does not exist)`);
  return {
    status: 200,
    headers: { 'content-type': SNAPSHOT_MEDIA_TYPE, 'weir-checkpoint-id': String(s.meta.checkpointId) },
    body: s.body,
    close: false,
  };
}

/** GET /v1/fleet — every gateway: last seen, seqs, lag and outbox figures from its last heartbeat. */
export async function getFleet(ctx: RouteContext, deps: QueryDeps): Promise<AppResponse> {
  const only = readable(ctx, param(ctx.query, 'gateway'));
  const gs = await deps.storage.gateways(only);
  return json(200, { nowMs: ctx.nowMs, gateways: gs.map((g) => fleetEntry(g, ctx.nowMs)) });
}

export function fleetEntry(g: GatewayRow, nowMs: number): Record<string, unknown> {
  const hb = g.heartbeat;
  return {
    gatewayId: g.name,
    createdAtMs: g.createdAtMs,
    lastSeenMs: g.lastSeenMs,
    lastSeenAgoMs: g.lastSeenMs === null ? null : nowMs - g.lastSeenMs,
    contiguousSeq: g.contiguousSeq,
    highestSeq: g.highestSeq,
    // Rows the gateway had written (as of its last heartbeat) that the cloud does not hold in order yet.
    lagSeqs: hb === null ? null : Math.max(0, hb.outbox.nextSeq - 1 - g.contiguousSeq),
    heartbeatAtMs: g.heartbeatAtMs,
    outbox: hb?.outbox ?? null,
    drops: hb?.drops ?? null,
    watermarkLagMs: hb?.watermarkLagMs ?? null,
    versions: hb?.versions ?? null,
    counters: hb?.counters ?? null,
    latestCheckpoint: g.latestCheckpoint,
  };
}
