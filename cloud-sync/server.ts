import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CloudSync } from './app.ts';
import type { Logger } from './log.ts';
import { silentLogger } from './log.ts';

/**
 * node:http(s) around a CloudSync handler. TLS when a certificate and key
 * are given. Shutdown order (children before parents): stop accepting,
 * answer 503 + Connection: close to whatever arrives on open keep-alive
 * connections, close idle connections, wait for the open ones to finish
 * their requests and close (up to `graceMs`, then cut them), wait for
 * handlers still running, and only then close the storage.
 */
export interface ListenOptions {
  readonly port?: number;
  readonly host?: string;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Longest wait for requests in flight at shutdown (default 10 s). */
  readonly graceMs?: number;
  /** Headers must arrive within this (default 10 s); bodies have their own limit in the app. */
  readonly headersTimeoutMs?: number;
  /** Whole request (headers + body), a hard stop behind the app's body timeout (default 330 s). */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this (default 30 s). */
  readonly keepAliveTimeoutMs?: number;
  /** How often node checks the header and request timeouts (default 1 s; node's own default is 30 s). */
  readonly timeoutCheckIntervalMs?: number;
  readonly logger?: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Graceful shutdown, then storage.close(). Idempotent. */
  close(): Promise<void>;
}

export async function listen(app: CloudSync, o: ListenOptions = {}): Promise<RunningServer> {
  const logger = o.logger ?? silentLogger;
  const serverOptions: http.ServerOptions = {
    headersTimeout: o.headersTimeoutMs ?? 10_000,
    requestTimeout: o.requestTimeoutMs ?? 330_000,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 30_000,
    connectionsCheckingInterval: o.timeoutCheckIntervalMs ?? 1000,
  };
  const server: http.Server = o.tls !== undefined
    ? https.createServer({ ...serverOptions, cert: o.tls.cert, key: o.tls.key }, app.nodeHandler)
    : http.createServer(serverOptions, app.nodeHandler);
  server.on('clientError', (e: Error & { code?: string }, socket) => {
    // A request head that timed out, is too large or does not parse: answer if we still can, never crash.
    const status = e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${o.tls !== undefined ? 'https' : 'http'}://${host}:${addr.port}`;
  logger.log('info', 'cloud-sync listening', { url, backend: app.storage.backend });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      app.beginShutdown();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: ReturnType<typeof setTimeout> | null = null;
      const grace = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), o.graceMs ?? 10_000);
      });
      const r = await Promise.race([stopped.then(() => 'stopped' as const), grace]);
      if (timer !== null) clearTimeout(timer);
      if (r === 'timeout') {
        logger.log('warn', 'shutdown: connections still open after the grace period were cut', { inFlight: app.inFlight });
        server.closeAllConnections();
        await stopped;
      }
      await app.idle(); // a handler whose connection was cut may still be talking to storage
      await app.storage.close();
      logger.log('info', 'cloud-sync stopped', {});
    })();
    return closing;
  };
  return { url, port: addr.port, server, close };
}
