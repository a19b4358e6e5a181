/**
 * A real cloud-sync service on 127.0.0.1 (ephemeral port) for the uplink
 * tests, with faults the test queues: error answers (with or without
 * Retry-After), connections dropped before the request is handled, and
 * answers lost after the batch was stored. It can be stopped and started
 * again on the same port with the same database.
 */
import http from 'node:http';
import { createCloudSync, type CloudSync, type CloudSyncOptions } from '../../cloud-sync/app.ts';
import { listen, type RunningServer } from '../../cloud-sync/server.ts';
import { SqliteStorage } from '../../cloud-sync/storage/sqlite-storage.ts';
import { PgStorage } from '../../cloud-sync/storage/pg-storage.ts';
import type { CloudStorage } from '../../cloud-sync/storage/storage-types.ts';
import { hashToken, newToken } from '../../cloud-sync/auth.ts';
import { PG_URL, freshPgSchema, tempDir } from '../../cloud-sync/test-support.ts';

export type Backend = 'sqlite' | 'postgres';

export type Fault =
  | { readonly status: number; readonly retryAfter?: string }
  /** The connection is destroyed before the request is handled. */
  | { readonly drop: 'before' }
  /** The request is handled (the batch stored), then the connection is destroyed: the ack is lost. */
  | { readonly drop: 'after' }
  /** The request waits until `hold` resolves, then is handled normally (later requests overtake it). */
  | { readonly hold: Promise<void> };

export interface TestCloud {
  readonly url: string;
  readonly port: number;
  readonly storage: CloudStorage;
  /** Token of gateway gw-a (and a reader token). */
  readonly token: string;
  readonly readerToken: string;
  /** Faults for the next requests to these paths (default: batches), in order. */
  readonly faults: Fault[];
  faultPaths: readonly string[];
  /** Every request path seen, in order (faulted ones too). */
  readonly seen: string[];
  /** The status of every answer sent, in the order they finished. */
  readonly statuses: number[];
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestCloud(backend: Backend, o: { tls?: { cert: string; key: string }; limits?: CloudSyncOptions['limits'] } = {}): Promise<TestCloud> {
  const tmp = tempDir();
  const pg = backend === 'postgres' ? await freshPgSchema() : null;
  const open = (): Promise<CloudStorage> => pg !== null
    ? PgStorage.open({ connectionString: PG_URL, schema: pg.schema })
    : SqliteStorage.open({ path: tmp.file('cloud.db'), synchronous: 'NORMAL' });
  let storage = await open();
  const token = newToken();
  const readerToken = newToken();
  await storage.addGateway('gw-a', hashToken(token), 0);
  await storage.addReader('ops', hashToken(readerToken), 0);
  let server: RunningServer | null = null;
  let port = 0;

  const cloud: TestCloud = {
    url: '',
    port: 0,
    get storage() {
      return storage;
    },
    token,
    readerToken,
    faults: [],
    faultPaths: ['/v1/batches'],
    seen: [],
    statuses: [],
    stop: async () => {
      await server?.close();
      server = null;
    },
    start: async () => {
      if (server !== null) return;
      if (port !== 0) storage = await open(); // stop() closed the previous one
      const app = createCloudSync({ storage, ...(o.limits !== undefined ? { limits: o.limits } : {}) });
      server = await listen(withFaults(app, cloud), { port, ...(o.tls !== undefined ? { tls: o.tls } : {}), graceMs: 2000 });
      port = server.port;
      Object.assign(cloud, { url: server.url, port });
    },
    close: async () => {
      await cloud.stop();
      await storage.close().catch(() => undefined);
      await pg?.drop();
      tmp.cleanup();
    },
  };
  await cloud.start();
  return cloud;
}

/** The app with a handler that applies queued faults first. listen() closes `storage` on stop; start() reopens it. */
function withFaults(app: CloudSync, cloud: TestCloud): CloudSync {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0]!;
    cloud.seen.push(path);
    res.on('finish', () => cloud.statuses.push(res.statusCode));
    const f = cloud.faultPaths.includes(path) ? cloud.faults.shift() : undefined;
    if (f === undefined) return app.nodeHandler(req, res);
    if ('hold' in f) {
      void f.hold.then(() => app.nodeHandler(req, res));
      return;
    }
    if ('drop' in f && f.drop === 'before') {
      req.socket.destroy();
      return;
    }
    if ('drop' in f) {
      void app.handle({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: req }).then(() => req.socket.destroy());
      return;
    }
    req.resume();
    const code = f.status === 429 ? 'E_UNAVAILABLE' : f.status >= 500 ? 'E_INTERNAL' : 'E_INVALID';
    res.writeHead(f.status, { 'content-type': 'application/json', connection: 'close', ...(f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {}) });
    res.end(JSON.stringify({ code, message: `injected ${f.status}` }));
  };
  return Object.create(app, { nodeHandler: { value: handler } }) as CloudSync;
}
