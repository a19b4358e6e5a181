/**
 * A few MQTT 3.1.1 packets by hand, and a socket that records what comes
 * back, for tests that must send what a well-behaved client library would
 * not (retransmissions with DUP, oversized or broken packets) or observe
 * packet order exactly.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

export function connectPacket(o: { clientId: string; username?: string; password?: string; clean?: boolean; keepalive?: number }): Buffer {
  let flags = o.clean === false ? 0 : 0x02;
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const ka = o.keepalive ?? 60;
  const body = Buffer.concat([
    str('MQTT'), Buffer.from([4, flags, ka >> 8, ka & 0xff]), str(o.clientId),
    ...(o.username !== undefined ? [str(o.username)] : []),
    ...(o.password !== undefined ? [str(o.password)] : []),
  ]);
  return packet(0x10, body);
}

export function publishPacket(o: { topic: string; payload: Buffer | string; qos: 0 | 1 | 2; id?: number; dup?: boolean; retain?: boolean }): Buffer {
  const first = 0x30 | (o.dup === true ? 0x08 : 0) | (o.qos << 1) | (o.retain === true ? 1 : 0);
  const id = o.id ?? 1;
  const body = Buffer.concat([str(o.topic), ...(o.qos > 0 ? [Buffer.from([id >> 8, id & 0xff])] : []), Buffer.from(o.payload)]);
  return packet(first, body);
}

export function pubrelPacket(id: number): Buffer {
  return Buffer.from([0x62, 0x02, id >> 8, id & 0xff]);
}

export function subscribePacket(id: number, filter: string, qos: 0 | 1 | 2): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), str(filter), Buffer.from([qos])]));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);

export const PACKET_NAMES: Record<number, string> = {
  2: 'connack', 3: 'publish', 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp', 9: 'suback', 11: 'unsuback', 13: 'pingresp',
};

export interface Received {
  readonly type: string;
  readonly body: Buffer;
}

/** A socket that parses what the broker sends into packets, in order. */
export class RawClient {
  readonly received: Received[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    s.setNoDelay(true);
    return new RawClient(s);
  }

  send(...packets: Buffer[]): void {
    this.socket.write(Buffer.concat(packets));
  }

  /** Resolves once `pred(received)` holds, or rejects when the socket closed first. */
  async until(pred: (r: readonly Received[]) => boolean, what: string): Promise<void> {
    while (!pred(this.received)) {
      if (this.closed) throw new Error(`connection closed before ${what}; got ${this.types().join(',')}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves when the broker closed the connection. */
  async closedByPeer(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  types(): string[] {
    return this.received.map((r) => r.type);
  }

  end(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      if (this.buf.length < 2) break;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < 5 && i < this.buf.length; i++) {
        len += (this.buf[i]! & 0x7f) * mul;
        mul *= 128;
        if ((this.buf[i]! & 0x80) === 0) break;
      }
      if (i >= this.buf.length || 1 + i + len > this.buf.length) break;
      const type = PACKET_NAMES[this.buf[0]! >> 4] ?? `type${this.buf[0]! >> 4}`;
      this.received.push({ type, body: this.buf.subarray(i + 1, i + 1 + len) });
      this.buf = this.buf.subarray(i + 1 + len);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
