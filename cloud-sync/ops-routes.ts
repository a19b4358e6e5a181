import { json, type AppResponse, type RouteContext } from './http-types.ts';
import { EXPOSITION_CONTENT_TYPE, render } from './metrics-text.ts';
import { gatewayFamilies, processFamilies, type CloudMetrics } from './metrics.ts';
import type { CloudStorage, GatewayRow } from './storage/storage-types.ts';
import type { Timer } from './clock.ts';
import type { Logger } from './log.ts';

/**
 * The operations surface: GET /metrics (Prometheus text format 0.0.4) and
 * GET /healthz.
 *
 * Both answer without a credential. Prometheus scrapers and load-balancer
 * probes usually carry no token, and what they get is safe to show anyone
 * who can reach the port: aggregate counters, gateway ids (names, not
 * secrets: a gateway proves itself with its token, never its name) and
 * their seq/backlog figures. Never a token, token hash, reader name,
 * payload or device id. Where even gateway names must stay private, expose
 * the port only to the monitoring network (or put /metrics behind the
 * proxy's auth); the sync API itself always needs a token.
 */
export interface OpsDeps {
  readonly storage: CloudStorage;
  readonly metrics: CloudMetrics;
  readonly timer: Timer;
  readonly logger: Logger;
  readonly startedAtMs: number;
  readonly inFlight: () => number;
  /** /healthz answers 503 when storage has not answered within this. */
  readonly healthTimeoutMs: number;
}

export interface OpsRoutes {
  getMetrics(ctx: RouteContext): Promise<AppResponse>;
  getHealthz(ctx: RouteContext): Promise<AppResponse>;
}

const NO_STORE = { 'cache-control': 'no-store' };

export function opsRoutes(deps: OpsDeps): OpsRoutes {
  // Scrapes that overlap share one storage read: an unauthenticated endpoint must not let callers multiply database work.
  let reading: Promise<GatewayRow[]> | null = null;
  const readGateways = (): Promise<GatewayRow[]> => {
    reading ??= deps.storage.gateways().finally(() => {
      reading = null;
    });
    return reading;
  };

  // Log when storage turns unusable or usable again, not on every probe (a probe every few seconds would flood the log).
  let storageOk = true;
  const note = (ok: boolean, what: string, e?: unknown): void => {
    if (ok === storageOk) return;
    storageOk = ok;
    if (ok) deps.logger.log('info', 'storage usable again', { via: what });
    else deps.logger.log('warn', 'storage not usable', { via: what, cause: e instanceof Error ? e.message : String(e), causeCode: (e as { code?: unknown })?.code });
  };

  return {
    async getMetrics(ctx) {
      let rows: GatewayRow[] | null = null;
      try {
        rows = await readGateways();
        note(true, '/metrics');
      } catch (e) {
        // Still answer: the in-memory counters are valid, and weircloud_storage_up 0 is what should alert.
        note(false, '/metrics', e);
      }
      const families = [
        ...deps.metrics.families(),
        ...(rows === null ? [] : gatewayFamilies(rows, ctx.nowMs)),
        ...processFamilies({ backend: deps.storage.backend, storageUp: rows !== null, inFlight: deps.inFlight(), uptimeMs: ctx.nowMs - deps.startedAtMs }),
      ];
      return { status: 200, headers: { 'content-type': EXPOSITION_CONTENT_TYPE, ...NO_STORE }, body: render(families), close: false };
    },

    async getHealthz() {
      const backend = deps.storage.backend;
      let handle: unknown = null;
      const timedOut = new Promise<'timeout'>((resolve) => {
        handle = deps.timer.set(() => resolve('timeout'), deps.healthTimeoutMs);
      });
      const ping = deps.storage.ping().then(() => 'ok' as const);
      ping.catch(() => undefined); // may reject after the timeout won
      try {
        const r = await Promise.race([ping, timedOut]);
        if (r === 'timeout') {
          note(false, '/healthz', new Error(`storage did not answer within ${deps.healthTimeoutMs} ms`));
          return json(503, { status: 'unavailable', backend, storage: 'timeout' }, NO_STORE);
        }
        note(true, '/healthz');
        return json(200, { status: 'ok', backend, storage: 'ok' }, NO_STORE);
      } catch (e) {
        note(false, '/healthz', e);
        return json(503, { status: 'unavailable', backend, storage: 'unreachable' }, NO_STORE);
      } finally {
        deps.timer.clear(handle);
      }
    },
  };
}
