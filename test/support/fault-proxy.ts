/**
 * A TCP proxy between two endpoints that misbehaves on command — the
 * gateway's uplink as seen on a bad day:
 *   pass       forward both ways
 *   cut        reset every connection (RST) and refuse new ones with RST
 *   blackhole  accept, read, forward nothing, never close (a dead NAT or cable)
 * plus added latency per chunk, a bandwidth cap (bytes/s, both directions
 * shared per connection), and flapping between modes on a schedule.
 */
import net from 'node:net';
import { once } from 'node:events';

export type ProxyMode = 'pass' | 'cut' | 'blackhole';

export interface ProxyStats {
  connections: number;
  resets: number;
  bytesUp: number;
  bytesDown: number;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
}

export class FaultProxy {
  readonly stats: ProxyStats = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0 };
  private mode: ProxyMode = 'pass';
  private latencyMs = 0;
  private bytesPerSec = 0;
  private readonly pairs = new Set<Pair>();
  private flapTimer: ReturnType<typeof setTimeout> | null = null;

  private constructor(private readonly server: net.Server, private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }, listen: { host?: string; port?: number } = {}): Promise<FaultProxy> {
    const server = net.createServer();
    const p = new FaultProxy(server, target);
    server.on('connection', (c) => p.accept(c));
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1');
    await once(server, 'listening');
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'cut') for (const p of [...this.pairs]) this.reset(p);
  }

  get currentMode(): ProxyMode {
    return this.mode;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** 0 = unlimited. */
  setBandwidth(bytesPerSec: number): void {
    this.bytesPerSec = bytesPerSec;
  }

  /** Cycles through `steps` (mode for ms) until stopFlapping(); ends in the last step's mode. */
  flap(steps: readonly { mode: ProxyMode; ms: number }[], repeat = true): void {
    this.stopFlapping();
    let i = 0;
    const next = (): void => {
      const s = steps[i % steps.length]!;
      this.setMode(s.mode);
      i++;
      if (!repeat && i >= steps.length) return;
      this.flapTimer = setTimeout(next, s.ms);
    };
    next();
  }

  stopFlapping(): void {
    if (this.flapTimer !== null) clearTimeout(this.flapTimer);
    this.flapTimer = null;
  }

  private accept(client: net.Socket): void {
    this.stats.connections++;
    client.on('error', () => undefined);
    if (this.mode === 'cut') {
      this.stats.resets++;
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null };
    this.pairs.add(pair);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    this.pipe(client, upstream, 'bytesUp');
    this.pipe(upstream, client, 'bytesDown');
  }

  /** Forwards from → to, chunk by chunk, through the current mode, latency and cap. */
  private pipe(from: net.Socket, to: net.Socket, counter: 'bytesUp' | 'bytesDown'): void {
    let chain: Promise<void> = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return; // swallowed: no forward, no close, no RST
      from.pause();
      chain = chain.then(async () => {
        if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
        if (this.bytesPerSec > 0) await new Promise((r) => setTimeout(r, (chunk.length * 1000) / this.bytesPerSec));
        if (this.mode !== 'pass' || to.destroyed) return;
        this.stats[counter] += chunk.length;
        if (!to.write(chunk)) await once(to, 'drain').catch(() => undefined);
      }).finally(() => {
        if (!from.destroyed) from.resume();
      });
    });
    from.on('end', () => {
      void chain.then(() => to.end());
    });
  }

  private reset(p: Pair): void {
    this.stats.resets++;
    p.client.resetAndDestroy();
    p.upstream?.destroy();
    this.pairs.delete(p);
  }

  async close(): Promise<void> {
    this.stopFlapping();
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.server.close();
    await once(this.server, 'close').catch(() => undefined);
  }
}
