/**
 * A simulated CoAP device: a `coap` (node-coap 1.5) server on its own UDP
 * port serving one observable resource (RFC 7641). Each new sample becomes
 * the resource's representation and a notification to every observer,
 * confirmable or not per the profile (plus a periodic confirmable probe).
 *
 * `coap` never ends the observe streams of clients that went away, so this
 * server keeps its own observer list (ObserverRegistry) and listens on the
 * socket for ACKs and RSTs itself: RST → observer removed; confirmable
 * notification unacknowledged past the timeout → observer removed.
 * `coap` has no DTLS; DTLS PSK devices are served by libcoap instead
 * (libcoap-psk-device.ts).
 */
import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { RemoteInfo, Socket } from 'node:dgram';
import { ObserveWriteStream, createServer } from 'coap';
import type { IncomingMessage, OutgoingMessage, Server } from 'coap';
import { ObserverRegistry } from './observer-registry.ts';
import type { ObserverPolicy } from './observer-registry.ts';
import { TransportStats } from './transport-stats.ts';

export interface CoapDeviceServerOptions {
  readonly deviceId: string;
  readonly resource: string;
  /** CoAP Content-Format of the payloads (RFC 7252 §12.3). */
  readonly contentFormat: number;
  /** Notifications confirmable by default (the profile's `transport.confirmable`). */
  readonly confirmable: boolean;
  readonly policy: ObserverPolicy;
  /** Clock for observer expiry (wall time in live runs, a manual clock in tests). */
  readonly now: () => number;
  readonly host?: string;
  readonly port?: number;
  /** First message ID used for notifications (seeded per device). */
  readonly firstMessageId: number;
}

/** CoAP message types (RFC 7252 §3). */
const TYPE_ACK = 2;
const TYPE_RST = 3;

/** Events a test (or a log) can wait on: 'ack' (mid), 'reset' (mid), 'expired' (observer key), 'observe' (key). */
export type CoapDeviceEvent = 'ack' | 'reset' | 'expired' | 'observe';

export class CoapDeviceServer {
  readonly stats = new TransportStats();
  readonly events = new EventEmitter<Record<CoapDeviceEvent, [string | number]>>();
  private readonly server: Server;
  private readonly socket: Socket;
  private readonly observers: ObserverRegistry<ObserveWriteStream>;
  private current: Buffer | null = null;
  private portNo = 0;

  constructor(private readonly o: CoapDeviceServerOptions) {
    this.observers = new ObserverRegistry(o.policy, o.now, o.firstMessageId);
    this.socket = createSocket('udp4');
    this.server = createServer({ type: 'udp4' }, (req, res) => this.onRequest(req, res));
    this.socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.server.listen(this.socket);
    this.portNo = this.socket.address().port;
    return this.portNo;
  }

  get port(): number {
    return this.portNo;
  }

  get url(): string {
    return `coap://${this.o.host ?? '127.0.0.1'}:${this.portNo}${this.o.resource}`;
  }

  get observerCount(): number {
    return this.observers.size;
  }

  /** A new sample: it becomes the representation and is sent to every observer. */
  publish(payload: Uint8Array): void {
    this.current = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.expire();
    if (this.observers.size === 0) {
      this.stats.unobserved++;
      return;
    }
    for (const [key, res] of this.observers.list()) this.notify(key, res);
  }

  /** Removes observers whose confirmable notifications went unacknowledged. */
  expire(): void {
    for (const res of this.observers.sweep()) {
      this.stats.observersExpired++;
      this.events.emit('expired', keyOf.get(res) ?? '');
      this.end(res);
    }
  }

  async close(): Promise<void> {
    for (const res of this.observers.handles()) this.end(res);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private notify(key: string, res: ObserveWriteStream): void {
    if (this.current === null) return;
    if (res._counter > 0) {
      // After the first response (piggybacked on the ACK of the request), each notification is
      // a new CON or NON message with its own ID (RFC 7641 §4.5; RFC 7252 §4.2–4.3).
      const plan = this.observers.nextNotification(key, this.o.confirmable);
      if (plan === null) return;
      res._packet.confirmable = plan.confirmable;
      res._packet.ack = false;
      res._packet.messageId = plan.messageId;
    }
    this.stats.notifications++;
    res.write(this.current);
  }

  private onRequest(req: IncomingMessage, res: OutgoingMessage | ObserveWriteStream): void {
    const path = req.url.split('?')[0];
    if (path !== this.o.resource) {
      res.statusCode = '4.04';
      res.end();
      return;
    }
    if (req.method !== 'GET') {
      res.statusCode = '4.05';
      res.end();
      return;
    }
    const key = `${req.rsinfo.address}:${req.rsinfo.port}:${(req._packet.token ?? Buffer.alloc(0)).toString('hex')}`;
    if (req.headers.Observe === 1) {
      // RFC 7641 §3.6: deregistration; answered like a plain GET.
      const old = this.observers.remove(key);
      if (old !== null) this.end(old);
    }
    res.setOption('Content-Format', this.o.contentFormat);
    if (!(res instanceof ObserveWriteStream)) {
      if (this.current === null) res.statusCode = '5.03';
      res.end(this.current ?? undefined);
      return;
    }
    keyOf.set(res, key);
    for (const gone of this.observers.add(key, res)) this.end(gone);
    this.stats.observers++;
    this.events.emit('observe', key);
    const forget = (): void => {
      if (keyOf.get(res) === key) {
        keyOf.delete(res);
        this.observers.remove(key);
      }
    };
    res.on('finish', forget);
    res.on('close', forget);
    res.on('error', forget);
    if (this.current !== null) this.notify(key, res);
    // No sample yet: the first one becomes the (separate) response (RFC 7252 §5.2.2).
  }

  /** Sees every datagram too, to match empty ACKs and RSTs to notifications. */
  private onDatagram(msg: Buffer, _rinfo: RemoteInfo): void {
    if (msg.length < 4 || msg[0] >> 6 !== 1) return;
    const type = (msg[0] >> 4) & 0x3;
    const mid = (msg[2] << 8) | msg[3];
    if (type === TYPE_ACK && msg[1] === 0) {
      this.observers.onAck(mid);
      this.events.emit('ack', mid);
    }
    if (type === TYPE_RST) {
      const res = this.observers.onReset(mid);
      if (res !== null) {
        this.stats.observersExpired++;
        this.end(res);
      }
      this.events.emit('reset', mid);
    }
  }

  private end(res: ObserveWriteStream): void {
    keyOf.delete(res);
    if (!res.writableEnded) res.end();
  }
}

const keyOf = new WeakMap<ObserveWriteStream, string>();
