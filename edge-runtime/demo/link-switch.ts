import net from 'node:net';
import { once } from 'node:events';

/**
 * A switch on the gateway's uplink, for `weir demo --offline-every`: a TCP
 * forwarder to the cloud that, when off, lets no request through — every
 * connection is cut (RST) and every request is answered `503` with
 * `Retry-After: 1`, the way a load balancer in front of an unreachable
 * cloud would.
 *
 * Why the 503 and not only a cut: after a cut the uplink retries with
 * exponential backoff (up to a minute), so after a ten-second outage it
 * may take longer to notice the link is back than the outage lasted. The
 * demo wants the catch-up to be visible as soon as the link returns, so
 * while off the switch tells the uplink to retry every second (it honours
 * Retry-After). The gateway's behaviour is the same: it keeps working,
 * queues its results, and sends the backlog, anomalies first, when the
 * cloud answers again. (The tests' FaultProxy, under test/, has the real
 * cut, blackhole and flapping; product code does not import tests.)
 */
const MAX_HEAD = 64 * 1024;
const BODY = JSON.stringify({ code: 'E_UNAVAILABLE', message: 'the uplink is switched off by weir demo --offline-every' });
const REFUSAL = `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\nconnection: close\r\n\r\n${BODY}`;

export class LinkSwitch {
  private up = true;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private readonly refused = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<LinkSwitch> {
    const server = net.createServer();
    const s = new LinkSwitch(server, target);
    server.on('connection', (c) => s.accept(c));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get isUp(): boolean {
    return this.up;
  }

  set(up: boolean): void {
    this.up = up;
    if (!up) {
      for (const p of [...this.pairs]) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
        this.pairs.delete(p);
      }
    }
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (!this.up) {
      this.refuse(client);
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Reads one request (head and content-length body), answers 503 and closes. */
  private refuse(client: net.Socket): void {
    this.refused.add(client);
    client.on('close', () => this.refused.delete(client));
    let buf = Buffer.alloc(0);
    let need = -1;
    client.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (need < 0) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEAD) client.destroy();
          return;
        }
        const len = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
        need = end + 4 + (len !== null ? Number(len[1]) : 0);
      }
      if (buf.length >= need) {
        client.removeAllListeners('data');
        client.end(REFUSAL);
      }
    });
  }

  async close(): Promise<void> {
    this.set(false);
    for (const c of [...this.refused]) c.destroy();
    this.server.close();
    await once(this.server, 'close').catch(() => undefined);
  }
}
