/**
 * The embedded broker's listeners: MQTT over TCP, over TLS (node:tls), and
 * over WebSocket (`ws`, subprotocol `mqtt`; WSS when `secure`). Each hands
 * every accepted connection, as a byte stream, to one `accept` function.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { MqttIngestError } from './mqtt-errors.ts';

export interface TlsMaterial {
  /** PEM certificate chain and private key. */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA certificates to verify client certificates with (only with requestCert). */
  readonly ca?: string | Buffer;
  /** Ask devices for a client certificate and refuse those that have no valid one (default false). */
  readonly requestCert?: boolean;
}

export interface ListenOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Plain MQTT over TCP (1883 is the usual port; 0 = ephemeral; null = none). Default 0. */
  readonly port?: number | null;
  /** MQTT over TLS (8883 is the usual port). */
  readonly tls?: TlsMaterial & { readonly port: number };
  /** MQTT over WebSocket; `secure` serves WSS with the `tls` material. Path default `/mqtt`. */
  readonly ws?: { readonly port: number; readonly path?: string; readonly secure?: boolean };
}

export interface BoundPorts {
  readonly tcp: number | null;
  readonly tls: number | null;
  readonly ws: number | null;
}

export type ListenerKind = 'tcp' | 'tls' | 'ws';

export interface ListenerEvents {
  accept(conn: Duplex, req: IncomingMessage | undefined, kind: ListenerKind): void;
  /** A TLS handshake failed (wrong CA, plain MQTT on the TLS port, ...). */
  tlsError(err: Error): void;
  /** The WebSocket upgrade or the HTTP side failed. */
  wsError(err: Error): void;
}

/** MQTT over WebSocket subprotocols: `mqtt` (3.1.1 and 5), `mqttv3.1` (3.1). */
function pickProtocol(protocols: Set<string>): string | false {
  if (protocols.has('mqtt')) return 'mqtt';
  if (protocols.has('mqttv3.1')) return 'mqttv3.1';
  return false;
}

export class BrokerListeners {
  private readonly closers: (() => Promise<void>)[] = [];

  private constructor() {}

  static async open(o: ListenOptions, maxWsPayload: number, ev: ListenerEvents): Promise<{ listeners: BrokerListeners; ports: BoundPorts }> {
    const l = new BrokerListeners();
    const host = o.host ?? '127.0.0.1';
    try {
      let tcp: number | null = null;
      let tls: number | null = null;
      let ws: number | null = null;
      const port = o.port === undefined ? 0 : o.port;
      if (port !== null) {
        const s = createNetServer({ noDelay: true }, (sock: Socket) => ev.accept(sock, undefined, 'tcp'));
        tcp = await l.listen(s, port, host, 'tcp');
      }
      if (o.tls !== undefined) {
        const s = createTlsServer(tlsOptions(o.tls), (sock) => ev.accept(sock, undefined, 'tls'));
        s.on('tlsClientError', (e: Error) => ev.tlsError(e));
        tls = await l.listen(s, o.tls.port, host, 'tls');
      }
      if (o.ws !== undefined) {
        let http: HttpServer;
        if (o.ws.secure === true) {
          if (o.tls === undefined) throw new MqttIngestError('E_MQTT_CONFIG', 'ws.secure needs the tls certificate and key');
          http = createHttpsServer(tlsOptions(o.tls));
        } else {
          http = createHttpServer();
        }
        http.on('clientError', (e: Error, sock: Duplex) => {
          ev.wsError(e);
          sock.destroy();
        });
        const wss = new WebSocketServer({ server: http, path: o.ws.path ?? '/mqtt', maxPayload: maxWsPayload, handleProtocols: pickProtocol });
        wss.on('error', (e: Error) => ev.wsError(e));
        wss.on('connection', (socket, req) => {
          socket.on('error', (e: Error) => ev.wsError(e));
          ev.accept(createWebSocketStream(socket), req, 'ws');
        });
        l.closers.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
        ws = await l.listen(http, o.ws.port, host, 'ws');
      }
      return { listeners: l, ports: { tcp, tls, ws } };
    } catch (e) {
      await l.close();
      throw e;
    }
  }

  private async listen(s: NetServer | TlsServer | HttpServer, port: number, host: string, kind: ListenerKind): Promise<number> {
    s.listen(port, host);
    try {
      await once(s, 'listening');
    } catch (e) {
      throw new MqttIngestError('E_MQTT_LISTEN', `cannot listen for MQTT over ${kind} on ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    this.closers.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
    return (s.address() as AddressInfo).port;
  }

  /** Stops accepting; resolves when every server has closed (its connections must be ended by the caller). */
  async close(): Promise<void> {
    const cs = this.closers.splice(0).reverse();
    await Promise.all(cs.map((c) => c()));
  }
}

function tlsOptions(t: TlsMaterial): { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer; requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: t.cert,
    key: t.key,
    ...(t.ca === undefined ? {} : { ca: t.ca }),
    requestCert: t.requestCert === true,
    rejectUnauthorized: t.requestCert === true,
  };
}
