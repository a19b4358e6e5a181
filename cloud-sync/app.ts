import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { WireError } from './protocol.ts';
import { bearerToken, hashToken } from './auth.ts';
import { CloudError } from './errors.ts';
import { json, type AppRequest, type AppResponse, type RouteContext } from './http-types.ts';
import { DEFAULT_BODY_LIMITS, DEFAULT_SNAPSHOT_LIMITS, postBatch, postCheckpoint, postHeartbeat, type IngestDeps } from './ingest-routes.ts';
import { getAnomalies, getCheckpointMeta, getFleet, getResults, getSeq, getSnapshot, getStatus } from './query-routes.ts';
import type { BodyLimits } from './body-reader.ts';
import type { CloudStorage, Principal } from './storage/storage-types.ts';
import { systemClock, systemTimer, type Clock, type Timer } from './clock.ts';
import { silentLogger, type Logger } from './log.ts';
import { GatewaySequencer } from './gateway-sequencer.ts';
import { CloudMetrics, UNMATCHED_ROUTE } from './metrics.ts';
import { opsRoutes } from './ops-routes.ts';

/**
 * The cloud-sync service as a factory (STYLE: fastify/hono): createCloudSync
 * returns a handler that needs no socket — `inject()` drives it in-process —
 * and `nodeHandler` plugs it into node:http (server.ts). Stateless: all
 * state is in `storage`, so any number of copies can serve one database.
 * Every answer that is not 2xx is a JSON `{ code, message }` with the
 * code's fixed status (protocol.ts ERROR_STATUS). The request counters of
 * GET /metrics (metrics.ts) live in memory here, per process.
 */
export interface CloudSyncOptions {
  readonly storage: CloudStorage;
  readonly clock?: Clock;
  /** Body read timeouts run on it (tests fire them by hand). */
  readonly timer?: Timer;
  readonly logger?: Logger;
  readonly limits?: { readonly body?: Partial<BodyLimits>; readonly snapshot?: Partial<BodyLimits> };
  /** Retry-After (seconds) sent with 503 answers. Default 5. */
  readonly retryAfterSeconds?: number;
  /** GET /healthz answers 503 when storage does not answer within this. Default 2000 ms. */
  readonly healthTimeoutMs?: number;
}

export interface InjectRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes or text (Content-Length is set unless given), or a stream (sent chunked). */
  readonly body?: Uint8Array | string | Readable;
}

export interface CloudSync {
  readonly storage: CloudStorage;
  /** The in-memory counters GET /metrics reports. */
  readonly metrics: CloudMetrics;
  handle(req: AppRequest): Promise<AppResponse>;
  inject(req: InjectRequest): Promise<AppResponse>;
  readonly nodeHandler: (req: IncomingMessage, res: ServerResponse) => void;
  /** From now on every request is answered 503 E_UNAVAILABLE with Connection: close. */
  beginShutdown(): void;
  readonly inFlight: number;
  /** Resolves when no request is being handled. */
  idle(): Promise<void>;
}

type Handler = (ctx: RouteContext) => Promise<AppResponse>;

interface Route {
  /** The `route` label of weircloud_http_requests_total: fixed, so paths with ids do not make new series. */
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly auth: boolean;
  readonly handler: Handler;
}

export function createCloudSync(opts: CloudSyncOptions): CloudSync {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
  const retryAfter = String(opts.retryAfterSeconds ?? 5);
  const timer = opts.timer ?? systemTimer;
  const metrics = new CloudMetrics();
  const deps: IngestDeps = {
    storage: opts.storage,
    timer,
    logger,
    metrics,
    limits: {
      body: { ...DEFAULT_BODY_LIMITS, ...opts.limits?.body },
      snapshot: { ...DEFAULT_SNAPSHOT_LIMITS, ...opts.limits?.snapshot },
    },
    sequencer: new GatewaySequencer(),
  };
  let shuttingDown = false;
  let inFlight = 0;
  // Unauthenticated, like /v1/health: why that is safe is in ops-routes.ts.
  const ops = opsRoutes({
    storage: opts.storage, metrics, timer, logger, startedAtMs: clock.now(), inFlight: () => inFlight, healthTimeoutMs: opts.healthTimeoutMs ?? 2000,
  });
  const routes: Route[] = [
    { name: 'batches', method: 'POST', pattern: /^\/v1\/batches$/, auth: true, handler: (c) => postBatch(c, deps) },
    { name: 'heartbeats', method: 'POST', pattern: /^\/v1\/heartbeats$/, auth: true, handler: (c) => postHeartbeat(c, deps) },
    { name: 'checkpoints', method: 'POST', pattern: /^\/v1\/checkpoints$/, auth: true, handler: (c) => postCheckpoint(c, deps) },
    { name: 'results', method: 'GET', pattern: /^\/v1\/results$/, auth: true, handler: (c) => getResults(c, deps) },
    { name: 'anomalies', method: 'GET', pattern: /^\/v1\/anomalies$/, auth: true, handler: (c) => getAnomalies(c, deps) },
    { name: 'fleet', method: 'GET', pattern: /^\/v1\/fleet$/, auth: true, handler: (c) => getFleet(c, deps) },
    { name: 'gateway_status', method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/status$/, auth: true, handler: (c) => getStatus(c, deps) },
    { name: 'gateway_seq', method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/seqs\/([^/]+)$/, auth: true, handler: (c) => getSeq(c, deps) },
    { name: 'gateway_checkpoint', method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/checkpoint$/, auth: true, handler: (c) => getCheckpointMeta(c, deps) },
    { name: 'gateway_snapshot', method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/checkpoint\/snapshot$/, auth: true, handler: (c) => getSnapshot(c, deps) },
    { name: 'health', method: 'GET', pattern: /^\/v1\/health$/, auth: false, handler: async () => json(200, { ok: true, backend: opts.storage.backend }) },
    { name: 'metrics', method: 'GET', pattern: /^\/metrics$/, auth: false, handler: (c) => ops.getMetrics(c) },
    { name: 'healthz', method: 'GET', pattern: /^\/healthz$/, auth: false, handler: (c) => ops.getHealthz(c) },
  ];
  let idleWaiters: (() => void)[] = [];

  async function authenticate(req: AppRequest): Promise<Principal> {
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new WireError('E_UNAUTHENTICATED', 'send Authorization: Bearer <token> with a weir token');
    const p = await opts.storage.authenticate(hashToken(token));
    if (p === null) throw new WireError('E_UNAUTHENTICATED', 'unknown credential');
    return p;
  }

  /** The URL and the routes whose pattern matches its path (any method), or why the URL is unusable. */
  function resolve(target: string): { url: URL; matching: { r: Route; m: RegExpExecArray }[] } | { error: WireError } {
    let url: URL;
    try {
      url = new URL(target, 'http://cloud-sync.invalid');
    } catch (e) {
      return { error: new WireError('E_MALFORMED', 'request target is not a valid URL', { cause: e }) };
    }
    const matching: { r: Route; m: RegExpExecArray }[] = [];
    for (const r of routes) {
      const m = r.pattern.exec(url.pathname);
      if (m !== null) matching.push({ r, m });
    }
    return { url, matching };
  }

  async function route(req: AppRequest): Promise<{ res: AppResponse; routeName: string }> {
    let principal: Principal | null = null;
    const target = resolve(req.url);
    const routeName = 'error' in target ? UNMATCHED_ROUTE : target.matching[0]?.r.name ?? UNMATCHED_ROUTE;
    try {
      if (shuttingDown) throw new WireError('E_UNAVAILABLE', 'the service is shutting down');
      if ('error' in target) throw target.error;
      const { url, matching } = target;
      if (matching.length === 0) throw new WireError('E_NOT_FOUND', `no route ${url.pathname}`);
      const hit = matching.find((x) => x.r.method === req.method);
      if (hit === undefined) throw new WireError('E_METHOD', `${req.method} is not allowed on ${url.pathname}; use ${matching.map((x) => x.r.method).join(', ')}`);
      let params: string[];
      try {
        params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
      } catch (e) {
        throw new WireError('E_INVALID', 'a path parameter is not valid percent-encoding', { cause: e });
      }
      if (hit.r.auth) principal = await authenticate(req);
      const res = await hit.r.handler({ req, query: url.searchParams, params, principal, nowMs: clock.now() });
      return { res, routeName };
    } catch (e) {
      return { res: errorResponse(e, req, principal), routeName };
    }
  }

  function errorResponse(e: unknown, req: AppRequest, principal: Principal | null): AppResponse {
    let err: WireError;
    if (e instanceof WireError) err = e;
    else if (e instanceof CloudError && e.code === 'E_STORAGE') err = new WireError('E_UNAVAILABLE', 'storage is unavailable; retry later', { cause: e });
    else err = new WireError('E_INTERNAL', 'internal error', { cause: e });
    metrics.rejection(err.code);
    const who = principal === null ? {} : principal.role === 'gateway' ? { gateway: principal.gateway } : { reader: principal.name };
    const path = req.url.split('?')[0];
    if (err.status >= 500) {
      const cause = err.cause instanceof Error ? { cause: err.cause.message, causeCode: (err.cause as { code?: unknown }).code } : {};
      logger.log('error', 'request failed', { method: req.method, path, code: err.code, ...who, ...cause });
    } else {
      logger.log('info', 'request refused', { method: req.method, path, code: err.code, status: err.status, ...who, message: err.message });
    }
    const headers: Record<string, string> = {};
    if (err.status === 503) headers['retry-after'] = retryAfter;
    if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="weir"';
    const r = json(err.status, err.toBody(), headers);
    return { ...r, close: hasUnreadBody(req) || shuttingDown };
  }

  async function handle(req: AppRequest): Promise<AppResponse> {
    inFlight++;
    try {
      const { res, routeName } = await route(req);
      metrics.request(routeName, res.status);
      return shuttingDown ? { ...res, close: true } : res;
    } finally {
      if (--inFlight === 0) {
        const w = idleWaiters;
        idleWaiters = [];
        for (const f of w) f();
      }
    }
  }

  return {
    storage: opts.storage,
    metrics,
    handle,
    inject: (r) => handle(injectRequest(r)),
    nodeHandler: (req, res) => {
      void handle({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: req }).then((r) => {
        if (r.close) res.shouldKeepAlive = false;
        res.writeHead(r.status, r.close ? { ...r.headers, connection: 'close' } : r.headers);
        res.end(r.body);
      });
    },
    beginShutdown: () => {
      shuttingDown = true;
    },
    get inFlight() {
      return inFlight;
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
  };
}

/** True when the request announced a body that was not read to its end. */
function hasUnreadBody(req: AppRequest): boolean {
  const announced = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
  return announced && !req.body.readableEnded;
}

function injectRequest(r: InjectRequest): AppRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: Readable;
  if (r.body instanceof Readable) {
    body = r.body;
    if (headers['content-length'] === undefined) headers['transfer-encoding'] ??= 'chunked';
  } else {
    const bytes = r.body === undefined ? Buffer.alloc(0) : typeof r.body === 'string' ? Buffer.from(r.body) : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
    if (bytes.byteLength > 0) headers['content-length'] ??= String(bytes.byteLength);
    body = Readable.from(bytes.byteLength > 0 ? [bytes] : []);
  }
  return { method: r.method, url: r.url, headers, body };
}
