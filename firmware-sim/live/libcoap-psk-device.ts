/**
 * A CoAP device behind DTLS with a pre-shared key. `coap` has no DTLS, so the
 * simulator drives libcoap's `coap-server-openssl` (Debian `libcoap3-bin`):
 * the server listens on PORT (plain CoAP, 127.0.0.1 only: the simulator's
 * control channel) and PORT+1 (coaps, DTLS PSK). Each sample is PUT over the
 * control channel to the resource; libcoap makes PUT-created resources
 * observable (`-d`) and notifies every coaps observer.
 *
 * No identity hint is sent (`-h ''`): node-coap-client's DTLS layer cannot
 * handle a ServerKeyExchange with a hint (FIELD-NOTES). Observer expiry is
 * libcoap's own (it ends observations on RST and on unacknowledged
 * confirmable notifications).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { request } from 'coap';
import { SimError } from '../core/sim-error.ts';
import { TransportStats } from './transport-stats.ts';

export const LIBCOAP_SERVER = 'coap-server-openssl';

export interface LibcoapPskDeviceOptions {
  readonly deviceId: string;
  readonly resource: string;
  readonly contentFormat: number;
  readonly psk: string;
  /** Notifications non-confirmable (`-N`; libcoap still sends every fifth confirmable). */
  readonly nonConfirmable: boolean;
  readonly host?: string;
}

/** Two consecutive free UDP ports (PORT for coap, PORT+1 for coaps). */
async function freePortPair(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = createSocket('udp4');
    a.bind(0, host);
    await once(a, 'listening');
    const port = a.address().port;
    const b = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      b.once('error', () => resolve(false));
      b.bind(port + 1, host, () => resolve(true));
    });
    a.close();
    b.close();
    if (ok && port < 65535) return port;
  }
  throw new SimError('E_SIM_NETWORK', 'no pair of consecutive free UDP ports');
}

export class LibcoapPskDevice {
  readonly stats = new TransportStats();
  private child: ChildProcess | null = null;
  private portNo = 0;
  private queue: Buffer[] = [];
  /** The representation the resource was created with; the first identical publish is not sent again. */
  private initial: Buffer | null = null;
  private busy = false;
  private readonly host: string;

  constructor(private readonly o: LibcoapPskDeviceOptions) {
    this.host = o.host ?? '127.0.0.1';
  }

  get url(): string {
    return `coaps://${this.host}:${this.portNo + 1}${this.o.resource}`;
  }

  /** Starts the server and waits until a PUT over the control channel succeeds. */
  async listen(initial: Uint8Array, timeoutMs = 5000): Promise<number> {
    this.portNo = await freePortPair(this.host);
    this.initial = Buffer.from(initial);
    const args = ['-A', this.host, '-p', String(this.portNo), '-k', this.o.psk, '-h', '', '-d', '4', '-v', '0'];
    if (this.o.nonConfirmable) args.push('-N');
    const child = spawn(LIBCOAP_SERVER, args, { stdio: 'ignore' });
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) => reject(new SimError('E_SIM_NETWORK', `${LIBCOAP_SERVER} could not start (install libcoap3-bin)`, { cause: e })));
      child.once('exit', (code) => reject(new SimError('E_SIM_NETWORK', `${LIBCOAP_SERVER} exited with ${code}`)));
    });
    failed.catch(() => {}); // observed through the race below
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.race([this.put(Buffer.from(initial), 300), failed]);
      if (ok) return this.portNo;
      if (Date.now() > deadline) throw new SimError('E_SIM_NETWORK', `${LIBCOAP_SERVER} did not answer on port ${this.portNo}`);
    }
  }

  /** A new sample: PUT it; libcoap notifies the observers. PUTs go one at a time, in order. */
  publish(payload: Uint8Array): void {
    const buf = Buffer.from(payload);
    const initial = this.initial;
    this.initial = null;
    if (initial !== null && initial.equals(buf)) return; // the resource already holds sample 0
    this.queue.push(buf);
    if (this.queue.length > 100) this.queue.shift();
    void this.drain();
  }

  expire(): void {}

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.queue.length > 0) {
      const next = this.queue.shift() as Buffer;
      if (await this.put(next, 2000)) this.stats.notifications++;
      else this.stats.publishErrors++;
    }
    this.busy = false;
  }

  private put(payload: Buffer, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({
        hostname: this.host,
        port: this.portNo,
        pathname: this.o.resource,
        method: 'PUT',
        confirmable: true,
        contentFormat: this.o.contentFormat,
        retrySend: 0,
      });
      const timer = setTimeout(() => resolve(false), timeoutMs);
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve(res.code === '2.01' || res.code === '2.04');
      });
      req.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
