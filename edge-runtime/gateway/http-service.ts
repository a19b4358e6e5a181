import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Registry } from '../metrics/registry.ts';
import { gatewayMetrics } from './gateway-metrics.ts';
import type { Gateway, GatewayService } from './gateway.ts';

export interface HttpService extends GatewayService {
  readonly port: number;
  readonly registry: Registry;
}

/**
 * GET /metrics (Prometheus text format) and GET /healthz (200 when the
 * runtime checkpoints on schedule, 503 otherwise) on the configured address.
 */
export async function startHttpService(g: Gateway, host: string, port: number): Promise<HttpService> {
  const registry = new Registry();
  registry.register(() => gatewayMetrics(g));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.text().then(
        (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const sinceCheckpoint = Date.now() - g.runtime.lastCheckpointAt;
      const limit = Math.max(10_000, 10 * g.config.checkpointIntervalMs);
      const ok = sinceCheckpoint < limit || g.config.checkpointIntervalMs === 0;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({
        status: ok ? 'ok' : 'checkpoints stalled',
        gatewayId: g.config.gatewayId,
        processedOffset: g.runtime.stats.processedOffset,
        msSinceCheckpoint: sinceCheckpoint,
      }) + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  server.listen(port, host);
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  g.logger.log('info', 'http listening', { host, port: bound, paths: ['/metrics', '/healthz'] });
  return {
    name: 'http',
    port: bound,
    registry,
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
