/**
 * Test helper (not a shipped code path): libcoap's `coap-server-openssl`
 * (Debian libcoap3-bin) as a DTLS PSK device with a chosen key and PSK
 * identity hint — the hint is what made node-dtls-client crash before weir's
 * patch. It listens on PORT (plain CoAP, the test's control channel on
 * 127.0.0.1) and PORT+1 (coaps). Each `put` replaces the resource's
 * representation; libcoap notifies its coaps observers (`-d` makes PUT-created
 * resources observable).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { encodeMessage } from './raw-coap-device.ts';

export const LIBCOAP_SERVER = 'coap-server-openssl';

export const haveLibcoap = spawnSync('sh', ['-c', `command -v ${LIBCOAP_SERVER}`]).status === 0;

export interface LibcoapPskServerOptions {
  readonly psk: string;
  /** PSK identity hint sent in ServerKeyExchange ('' = none: no ServerKeyExchange at all). */
  readonly hint: string;
  readonly resource: string;
  readonly contentFormat: number;
  /** Non-confirmable notifications (`-N`; libcoap still sends every fifth confirmable). */
  readonly nonConfirmable?: boolean;
}

/** Two consecutive free UDP ports on 127.0.0.1 (PORT for coap, PORT+1 for coaps). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = createSocket('udp4');
    a.bind(0, '127.0.0.1');
    await once(a, 'listening');
    const port = a.address().port;
    const b = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      b.once('error', () => resolve(false));
      b.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => a.close(() => resolve()));
    if (ok) await new Promise<void>((resolve) => b.close(() => resolve()));
    if (ok && port < 65535) return port;
  }
  throw new Error('no pair of consecutive free UDP ports');
}

export class LibcoapPskServer {
  private child: ChildProcess | null = null;
  private port = 0;
  /** The control channel's socket (raw CoAP: no library timers that outlive the test). */
  private control: Socket | null = null;
  private mid = 1;

  constructor(private readonly o: LibcoapPskServerOptions) {}

  /** `127.0.0.1:PORT+1`, the coaps endpoint. */
  get endpoint(): string {
    return `127.0.0.1:${this.port + 1}`;
  }

  /** Starts the server and creates the resource with `initial` (retrying until the server answers). */
  async start(initial: Uint8Array, timeoutMs = 5000): Promise<void> {
    this.port = await freePortPair();
    await this.spawn(initial, timeoutMs);
  }

  /**
   * A power cycle: the process is killed (SIGKILL: no DTLS close_notify, so the gateway can only
   * notice by the silence) and starts again on the same ports with its sessions and observers gone.
   * (With SIGTERM libcoap sometimes sends close_notify first, and the gateway then takes the
   * backoff path instead of the watchdog: a race that made this test flaky.)
   */
  async restart(initial: Uint8Array, timeoutMs = 5000): Promise<void> {
    await this.kill('SIGKILL');
    await this.spawn(initial, timeoutMs);
  }

  private async spawn(initial: Uint8Array, timeoutMs: number): Promise<void> {
    const args = ['-A', '127.0.0.1', '-p', String(this.port), '-k', this.o.psk, '-h', this.o.hint, '-d', '4', '-v', '0'];
    if (this.o.nonConfirmable === true) args.push('-N');
    const child = spawn(LIBCOAP_SERVER, args, { stdio: 'ignore' });
    this.child = child;
    let exited = false;
    child.once('exit', () => void (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (!(await this.put(initial, 300))) {
      if (exited) throw new Error(`${LIBCOAP_SERVER} exited (port ${this.port})`);
      if (Date.now() > deadline) throw new Error(`${LIBCOAP_SERVER} did not answer on port ${this.port}`);
    }
  }

  /**
   * Replaces the representation with a confirmable PUT over the control channel; resolves true once
   * libcoap confirmed it (2.01/2.04). Retransmitted with the same message ID until `timeoutMs`.
   */
  async put(payload: Uint8Array, timeoutMs = 5000): Promise<boolean> {
    if (this.control === null) {
      const sock = createSocket('udp4');
      sock.bind(0, '127.0.0.1');
      await once(sock, 'listening');
      this.control = sock;
    }
    const sock = this.control;
    const mid = (this.mid = (this.mid % 0xffff) + 1);
    const token = Buffer.from([mid >> 8, mid & 0xff]);
    const path = this.o.resource.split('/').filter((p) => p !== '').map((p): [number, Buffer] => [11, Buffer.from(p)]);
    const msg = encodeMessage(0, [0, 3], mid, token, [...path, [12, Buffer.from(this.o.contentFormat < 256 ? [this.o.contentFormat] : [this.o.contentFormat >> 8, this.o.contentFormat & 0xff])]], payload);
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearInterval(resend);
        clearTimeout(deadline);
        sock.off('message', onMessage);
        resolve(ok);
      };
      const onMessage = (m: Buffer): void => {
        if (m.length < 4 || m.readUInt16BE(2) !== mid || ((m[0]! >> 4) & 3) !== 2) return;
        done(m[1] === 0x41 || m[1] === 0x44); // 2.01 Created, 2.04 Changed
      };
      sock.on('message', onMessage);
      const send = (): void => sock.send(msg, this.port, '127.0.0.1');
      const resend = setInterval(send, 250);
      const deadline = setTimeout(() => done(false), timeoutMs);
      send();
    });
  }

  async stop(): Promise<void> {
    const sock = this.control;
    this.control = null;
    if (sock !== null) await new Promise<void>((resolve) => sock.close(() => resolve()));
    await this.kill();
  }

  private async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}
