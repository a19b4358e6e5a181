/**
 * Test helper (not a shipped code path): a CoAP device written at the byte
 * level (RFC 7252 §3) so a test can send exactly the notifications it wants —
 * any Observe number, message ID and type, duplicates, reordering, garbage —
 * and see every ACK and RST the client sends back.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';

const CON = 0;
const NON = 1;
const ACK = 2;
const RST = 3;
const OPT_OBSERVE = 6; // RFC 7641 §2
const OPT_URI_PATH = 11;
const OPT_CONTENT_FORMAT = 12;
const OPT_MAX_AGE = 14;

export interface RawRequest {
  readonly type: number;
  readonly code: number;
  readonly mid: number;
  readonly token: Buffer;
  readonly observe: number | undefined;
  readonly path: string;
}

export interface Notification {
  readonly observe?: number;
  readonly mid: number;
  readonly confirmable: boolean;
  readonly payload: Uint8Array;
  readonly maxAge?: number;
  /** Response code as class.detail (default 2.05). */
  readonly code?: [number, number];
  /** Token to use instead of the registered observer's (e.g. an unknown one, to provoke an RST). */
  readonly token?: Buffer;
  /** More options, e.g. ones the client does not know. */
  readonly options?: readonly [number, Buffer][];
}

function uint(v: number): Buffer {
  const bytes: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from(bytes);
}

function encodeOptions(opts: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  let prev = 0;
  for (const [num, value] of opts.sort((a, b) => a[0] - b[0])) {
    const delta = num - prev;
    prev = num;
    if (delta >= 13 || value.length >= 13) throw new Error('raw-coap-device: only small option deltas and values');
    parts.push(Buffer.from([(delta << 4) | value.length]), value);
  }
  return Buffer.concat(parts);
}

/** A CoAP message (RFC 7252 §3). */
export function encodeMessage(type: number, code: [number, number], mid: number, token: Buffer, opts: [number, Buffer][], payload?: Uint8Array): Buffer {
  const head = Buffer.from([0x40 | (type << 4) | token.length, (code[0] << 5) | code[1], mid >> 8, mid & 0xff]);
  const body = payload !== undefined && payload.length > 0 ? [Buffer.from([0xff]), Buffer.from(payload)] : [];
  return Buffer.concat([head, token, encodeOptions(opts), ...body]);
}

function decodeRequest(msg: Buffer): RawRequest | null {
  if (msg.length < 4 || msg[0]! >> 6 !== 1) return null;
  const tkl = msg[0]! & 0x0f;
  const token = msg.subarray(4, 4 + tkl);
  let i = 4 + tkl;
  let num = 0;
  let observe: number | undefined;
  const path: string[] = [];
  while (i < msg.length && msg[i] !== 0xff) {
    let delta = msg[i]! >> 4;
    let len = msg[i]! & 0x0f;
    i++;
    if (delta === 13) delta = 13 + msg[i++]!;
    else if (delta === 14) { delta = 269 + msg.readUInt16BE(i); i += 2; }
    if (len === 13) len = 13 + msg[i++]!;
    else if (len === 14) { len = 269 + msg.readUInt16BE(i); i += 2; }
    num += delta;
    const value = msg.subarray(i, i + len);
    i += len;
    if (num === OPT_OBSERVE) observe = value.reduce((a, b) => a * 256 + b, 0);
    if (num === OPT_URI_PATH) path.push(value.toString('utf8'));
  }
  return { type: (msg[0]! >> 4) & 3, code: msg[1]!, mid: msg.readUInt16BE(2), token: Buffer.from(token), observe, path: '/' + path.join('/') };
}

export class RawCoapDevice {
  /** 'request' (RawRequest), 'ack' (mid), 'rst' (mid). */
  readonly events = new EventEmitter();
  readonly acks: number[] = [];
  readonly rsts: number[] = [];
  private readonly socket: Socket = createSocket('udp4');
  private observer: { rinfo: RemoteInfo; token: Buffer } | null = null;
  /** How the device answers a registration (GET with Observe 0). */
  response: Notification | null = null;

  async listen(): Promise<number> {
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.bind(0, '127.0.0.1');
    await once(this.socket, 'listening');
    return this.port;
  }

  get port(): number {
    return this.socket.address().port;
  }

  get registered(): boolean {
    return this.observer !== null;
  }

  /** Sends a notification to the registered observer. */
  notify(n: Notification): void {
    const o = this.observer;
    if (o === null) throw new Error('raw-coap-device: nobody is observing');
    this.send(n.confirmable ? CON : NON, n, n.token ?? o.token, o.rinfo);
  }

  /** Sends arbitrary bytes to the observer (malformed datagrams). */
  sendRaw(bytes: Uint8Array): void {
    const o = this.observer;
    if (o === null) throw new Error('raw-coap-device: nobody is observing');
    this.socket.send(bytes, o.rinfo.port, o.rinfo.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private send(type: number, n: Notification, token: Buffer, to: RemoteInfo): void {
    const opts: [number, Buffer][] = [[OPT_CONTENT_FORMAT, uint(60)]];
    if (n.observe !== undefined) opts.push([OPT_OBSERVE, uint(n.observe)]);
    if (n.maxAge !== undefined) opts.push([OPT_MAX_AGE, uint(n.maxAge)]);
    opts.push(...(n.options ?? []));
    this.socket.send(encodeMessage(type, n.code ?? [2, 5], n.mid, token, opts, n.payload), to.port, to.address);
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const req = decodeRequest(msg);
    if (req === null) return;
    if (req.code === 0 && req.type === ACK) {
      this.acks.push(req.mid);
      this.events.emit('ack', req.mid);
      return;
    }
    if (req.code === 0 && req.type === RST) {
      this.rsts.push(req.mid);
      this.events.emit('rst', req.mid);
      return;
    }
    if (req.code === 1 && req.observe === 0) this.observer = { rinfo, token: req.token };
    this.events.emit('request', req);
    const r = this.response;
    if (r !== null && req.code === 1) {
      // Piggybacked on the ACK of a confirmable request (RFC 7252 §5.2.1), the request's message ID.
      this.send(req.type === CON ? ACK : NON, { ...r, mid: req.type === CON ? req.mid : r.mid }, req.token, rinfo);
    }
  }
}
