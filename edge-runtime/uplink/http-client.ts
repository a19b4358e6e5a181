import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Timer } from '../state/group-commit-log.ts';
import { UplinkError, type TimeoutPhase } from './uplink-errors.ts';

/**
 * One HTTP(S) exchange that never waits forever: every socket phase has its
 * own deadline on the injected timer, and a deadline that passes destroys
 * the request (a blackholed connection is detected, never waited on).
 *
 * - connect: a new socket until TCP (and TLS) is up
 * - response: from the socket being ready until the response head
 * - body: between two chunks of the response body (a stalled download)
 * - total: the whole exchange
 */
export interface HttpTimeouts {
  readonly connectMs: number;
  readonly responseMs: number;
  readonly bodyIdleMs: number;
  readonly totalMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { connectMs: 10_000, responseMs: 30_000, bodyIdleMs: 15_000, totalMs: 120_000 };

export interface HttpRequest {
  readonly url: URL;
  readonly method: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly timeouts: HttpTimeouts;
  readonly timer: Timer;
  readonly agent?: http.Agent;
  /** Extra CA certificates (PEM) for HTTPS, e.g. a private CA or a self-signed test certificate. */
  readonly ca?: string | Buffer;
  /** Response bodies larger than this are refused (E_UPLINK_PROTOCOL). */
  readonly maxResponseBytes: number;
  /** Test hook: the socket to use instead of a real connection (e.g. one that never connects). */
  readonly createConnection?: () => Duplex;
  /** Aborts the exchange (E_UPLINK_NETWORK). */
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export function httpRequest(r: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const tls = r.url.protocol === 'https:';
    if (!tls && r.url.protocol !== 'http:') return reject(new UplinkError('E_UPLINK_CONFIG', `unsupported endpoint protocol ${r.url.protocol}`));
    const handles = new Set<unknown>();
    let done = false;
    const arm = (ms: number, phase: TimeoutPhase): unknown => {
      const h = r.timer.set(() => fail(new UplinkError('E_UPLINK_TIMEOUT', `${r.method} ${r.url.pathname}: ${phase} timed out after ${ms} ms`, { phase })), ms);
      handles.add(h);
      return h;
    };
    const disarm = (h: unknown): void => {
      if (h === null) return;
      r.timer.clear(h);
      handles.delete(h);
    };
    const settle = (): void => {
      done = true;
      for (const h of handles) r.timer.clear(h);
      handles.clear();
    };
    const fail = (e: UplinkError): void => {
      if (done) return;
      settle();
      req.destroy();
      reject(e);
    };
    arm(r.timeouts.totalMs, 'total');
    const options: https.RequestOptions = {
      method: r.method,
      headers: { ...r.headers, ...(r.body !== undefined ? { 'content-length': String(r.body.byteLength) } : {}) },
      ...(r.agent !== undefined ? { agent: r.agent } : {}),
      ...(r.ca !== undefined ? { ca: r.ca } : {}),
      ...(r.createConnection !== undefined ? { createConnection: r.createConnection as unknown as http.RequestOptions['createConnection'] } : {}),
      ...(r.signal !== undefined ? { signal: r.signal } : {}),
    };
    const req = (tls ? https : http).request(r.url, options);
    let responseTimer: unknown = null;
    const waitForResponse = (): void => {
      if (!done && responseTimer === null) responseTimer = arm(r.timeouts.responseMs, 'response');
    };
    req.on('socket', (socket) => {
      const s = socket as Duplex & { connecting?: boolean };
      if (s.connecting === true) {
        const h = arm(r.timeouts.connectMs, 'connect');
        s.once(tls ? 'secureConnect' : 'connect', () => {
          disarm(h);
          waitForResponse();
        });
      } else {
        waitForResponse();
      }
    });
    req.on('response', (res) => {
      disarm(responseTimer);
      const chunks: Buffer[] = [];
      let size = 0;
      let idle = arm(r.timeouts.bodyIdleMs, 'body');
      res.on('data', (c: Buffer) => {
        disarm(idle);
        size += c.byteLength;
        if (size > r.maxResponseBytes) return fail(new UplinkError('E_UPLINK_PROTOCOL', `response body passed ${r.maxResponseBytes} bytes`));
        chunks.push(c);
        idle = arm(r.timeouts.bodyIdleMs, 'body');
      });
      res.on('end', () => {
        if (done) return;
        settle();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) });
      });
      res.on('error', (e) => fail(new UplinkError('E_UPLINK_NETWORK', `response failed: ${e.message}`, { cause: e })));
    });
    req.on('error', (e: Error & { code?: string }) => {
      fail(new UplinkError('E_UPLINK_NETWORK', `${r.method} ${r.url.origin}${r.url.pathname}: ${e.code ?? ''} ${e.message}`.trim(),
        { cause: e, reusedSocket: req.reusedSocket }));
    });
    req.end(r.body === undefined ? undefined : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
  });
}
