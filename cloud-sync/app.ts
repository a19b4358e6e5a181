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

/**
 * The cloud-sync service as a factory (STYLE: fastify/hono): createCloudSync
 * returns a handler that needs no socket — `inject()` drives it in-process —
 * and `nodeHandler` plugs it into node:http (server.ts). Stateless: all
 * state is in `storage`, so any number of copies can serve one database.
 * Every answer that is not 2xx is a JSON `{ code, message }` with the
 * code's fixed status (protocol.ts ERROR_STATUS).
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
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly auth: boolean;
  readonly handler: Handler;
}

export function createCloudSync(opts: CloudSyncOptions): CloudSync {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
  const retryAfter = String(opts.retryAfterSeconds ?? 5);
  const deps: IngestDeps = {
    storage: opts.storage,
    timer: opts.timer ?? systemTimer,
    logger,
    limits: {
      body: { ...DEFAULT_BODY_LIMITS, ...opts.limits?.body },
      snapshot: { ...DEFAULT_SNAPSHOT_LIMITS, ...opts.limits?.snapshot },
    },
    sequencer: new GatewaySequencer(),
  };
  const routes: Route[] = [
    { method: 'POST', pattern: /^\/v1\/batches$/, auth: true, handler: (c) => postBatch(c, deps) },
    { method: 'POST', pattern: /^\/v1\/heartbeats$/, auth: true, handler: (c) => postHeartbeat(c, deps) },
    { method: 'POST', pattern: /^\/v1\/checkpoints$/, auth: true, handler: (c) => postCheckpoint(c, deps) },
    { method: 'GET', pattern: /^\/v1\/results$/, auth: true, handler: (c) => getResults(c, deps) },
    { method: 'GET', pattern: /^\/v1\/anomalies$/, auth: true, handler: (c) => getAnomalies(c, deps) },
    { method: 'GET', pattern: /^\/v1\/fleet$/, auth: true, handler: (c) => getFleet(c, deps) },
    { method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/status$/, auth: true, handler: (c) => getStatus(c, deps) },
    { method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/seqs\/([^/]+)$/, auth: true, handler: (c) => getSeq(c, deps) },
    { method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/checkpoint$/, auth: true, handler: (c) => getCheckpointMeta(c, deps) },
    { method: 'GET', pattern: /^\/v1\/gateways\/([^/]+)\/checkpoint\/snapshot$/, auth: true, handler: (c) => getSnapshot(c, deps) },
    { method: 'GET', pattern: /^\/v1\/health$/, auth: false, handler: async () => json(200, { ok: true, backend: opts.storage.backend }) },
  ];

  let shuttingDown = false;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];

  async function authenticate(req: AppRequest): Promise<Principal> {
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new WireError('E_UNAUTHENTICATED', 'send Authorization: Bearer <token> with a weir token');
    const p = await opts.storage.authenticate(hashToken(token));
    if (p === null) throw new WireError('E_UNAUTHENTICATED', 'unknown credential');
    return p;
  }

  async function route(req: AppRequest): Promise<{ res: AppResponse; principal: Principal | null }> {
    let principal: Principal | null = null;
    try {
      if (shuttingDown) throw new WireError('E_UNAVAILABLE', 'the service is shutting down');
      let url: URL;
      try {
        url = new URL(req.url, 'http://cloud-sync.invalid');
      } catch (e) {
        throw new WireError('E_MALFORMED', 'request target is not a valid URL', { cause: e });
      }
      const matching = routes.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
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
      return { res, principal };
    } catch (e) {
      return { res: errorResponse(e, req, principal), principal };
    }
  }

  function errorResponse(e: unknown, req: AppRequest, principal: Principal | null): AppResponse {
    let err: WireError;
    if (e instanceof WireError) err = e;
    else if (e instanceof CloudError && e.code === 'E_STORAGE') err = new WireError('E_UNAVAILABLE', 'storage is unavailable; retry later', { cause: e });
    else err = new WireError('E_INTERNAL', 'internal error', { cause: e });
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
      const { res } = await route(req);
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
