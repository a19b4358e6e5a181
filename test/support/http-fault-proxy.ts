/**
 * An HTTP proxy between the gateway's uplink and a cloud-sync process that
 * misbehaves per request, for faults a TCP proxy (fault-proxy.ts) cannot
 * make because they need to know where a request begins and ends:
 *
 *   { status, retryAfter? }   answer with this error (JSON { code, message }, as cloud-sync would) without forwarding
 *   { hold: 'request' }       keep the request until released, then forward it (an upload in flight, not stored yet)
 *   { hold: 'response' }      forward it (the cloud stores the batch), keep the answer until released (the ack in flight)
 *
 * Faults apply to requests whose path is in `faultPaths` (default: batch
 * uploads), taken from the `faults` queue in order, or from `rule` (called
 * with the 1-based number of the matching request) when the queue is empty.
 * When the cloud cannot be reached the client's connection is destroyed,
 * as it would be without the proxy; `down = true` does the same to every
 * request (the link is down). Every request is recorded in `seen`.
 */
import http from 'node:http';
import { once } from 'node:events';

export type HttpFault =
  | { readonly status: number; readonly retryAfter?: string }
  | { readonly hold: 'request' | 'response' };

export interface Held {
  readonly path: string;
  readonly phase: 'request' | 'response';
  /** The n-th matching request. */
  readonly n: number;
  release(): void;
}

export interface SeenRequest {
  readonly path: string;
  readonly at: number;
  /** The status answered (0: the connection was dropped, or it is still open). */
  status: number;
  readonly fault: string | null;
}

const CODES: Record<number, string> = { 429: 'E_UNAVAILABLE', 503: 'E_UNAVAILABLE', 500: 'E_INTERNAL' };

export class HttpFaultProxy {
  readonly faults: HttpFault[] = [];
  faultPaths: readonly string[] = ['/v1/batches'];
  rule: ((n: number, path: string) => HttpFault | null) | null = null;
  /** While true, every request's connection is destroyed at once (recorded with status 0). */
  down = false;
  readonly seen: SeenRequest[] = [];
  readonly held: Held[] = [];
  private matching = 0;
  private readonly heldListeners = new Set<(h: Held) => void>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  private constructor(private readonly server: http.Server, private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<HttpFaultProxy> {
    const server = http.createServer();
    const p = new HttpFaultProxy(server, target);
    server.on('request', (req, res) => void p.handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return p;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Resolves with the next request that gets held (or one held already and not yet released). */
  nextHeld(timeoutMs = 30_000): Promise<Held> {
    const waiting = this.held[0];
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.heldListeners.delete(on);
        reject(new Error(`http-fault-proxy: no request held within ${timeoutMs} ms (seen ${this.seen.length})`));
      }, timeoutMs);
      const on = (h: Held): void => {
        clearTimeout(timer);
        this.heldListeners.delete(on);
        resolve(h);
      };
      this.heldListeners.add(on);
    });
  }

  /** Answers with this status, per path and status (e.g. { '/v1/batches 200': 12 }). */
  tally(): Record<string, number> {
    const t: Record<string, number> = {};
    for (const s of this.seen) t[`${s.path} ${s.status}`] = (t[`${s.path} ${s.status}`] ?? 0) + 1;
    return t;
  }

  private hold(path: string, phase: 'request' | 'response', n: number): Promise<void> {
    return new Promise((resolve) => {
      const h: Held = {
        path, phase, n,
        release: () => {
          const i = this.held.indexOf(h);
          if (i >= 0) this.held.splice(i, 1);
          resolve();
        },
      };
      this.held.push(h);
      for (const l of [...this.heldListeners]) l(h);
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    if (this.down) {
      this.seen.push({ path, at: Date.now(), status: 0, fault: 'down' });
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return; // the client went away mid-body
    }
    const body = Buffer.concat(chunks);
    let fault: HttpFault | null = null;
    let n = 0;
    if (this.faultPaths.includes(path)) {
      n = ++this.matching;
      fault = this.faults.shift() ?? this.rule?.(n, path) ?? null;
    }
    const seen: SeenRequest = { path, at: Date.now(), status: 0, fault: fault === null ? null : JSON.stringify(fault) };
    this.seen.push(seen);
    if (fault !== null && 'status' in fault) {
      const code = CODES[fault.status] ?? 'E_INTERNAL';
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}) });
      res.end(JSON.stringify({ code, message: `injected by the test proxy: ${fault.status}` }));
      seen.status = fault.status;
      return;
    }
    if (fault !== null && fault.hold === 'request') await this.hold(path, 'request', n);
    if (res.destroyed) return;
    let answer: { status: number; headers: http.IncomingHttpHeaders; body: Buffer };
    try {
      answer = await this.forward(req, body);
    } catch {
      res.destroy(); // the cloud is down: the client sees its connection fail
      return;
    }
    if (fault !== null && fault.hold === 'response') await this.hold(path, 'response', n);
    if (res.destroyed) return;
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    delete headers['keep-alive'];
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
    seen.status = answer.status;
  }

  private forward(req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: `${this.target.host}:${this.target.port}`, 'content-length': String(body.length) };
      delete headers.connection;
      const up = http.request({ host: this.target.host, port: this.target.port, method: req.method, path: req.url, headers, agent: this.agent }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(parts) }));
        r.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });
  }

  async close(): Promise<void> {
    for (const h of [...this.held]) h.release();
    this.server.closeAllConnections();
    this.server.close();
    this.agent.destroy();
    await once(this.server, 'close').catch(() => undefined);
  }
}
