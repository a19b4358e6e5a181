/**
 * The one module that talks to node-coap-client (2.1, patched: see
 * patches/node-coap-client+*.patch and README.md here). The library keeps
 * one process-wide singleton, so this adapter only ever touches the origins
 * it is given: never a global `CoapClient.reset()`.
 */
import { CoapClient } from 'node-coap-client';
import type { CoapResponse, SecurityParameters } from 'node-coap-client';
import { Origin } from 'node-coap-client/build/lib/Origin.js';
import { HandshakeMessages } from 'node-dtls-client/build/DTLS/Handshake.js';
import type { PskCredentials } from './coap-credentials.ts';

/** A response or notification as the ingest sees it. */
export interface CoapMessage {
  /** `2.05`, `4.04`, ... */
  readonly code: string;
  /** A 2.xx code (RFC 7252 §5.9.1). */
  readonly success: boolean;
  readonly payload: Uint8Array;
  readonly format: number | null;
  /** The Observe option (RFC 7641 §2), absent when the server did not register us / it is a plain response. */
  readonly observe: number | undefined;
  /** Max-Age in seconds (RFC 7252 §5.10.5), absent means 60. */
  readonly maxAge: number | undefined;
  readonly messageId: number | undefined;
  /** Sent as a confirmable message: acknowledged when the handler's promise resolves. */
  readonly confirmable: boolean;
}

export type CipherSuiteName = NonNullable<SecurityParameters['ciphers']>[number];

export interface DtlsSettings {
  readonly ciphers: readonly CipherSuiteName[];
  /** Handshake timeout per attempt (the library makes up to 3 attempts; an auth failure stops at once). */
  readonly handshakeTimeoutMs: number;
}

/**
 * What the ingest needs from a CoAP client. The handler of `observe` may
 * return a promise: a confirmable notification is acknowledged only when it
 * resolves, and not at all when it rejects (the device retransmits it).
 */
export interface CoapClientPort {
  setPsk(origin: string, psk: PskCredentials, dtls: DtlsSettings): void;
  /** Establishes the connection (the DTLS handshake for coaps); rejects with a coded library error. */
  connect(origin: string): Promise<void>;
  observe(uri: string, handler: (m: CoapMessage) => void | Promise<void>): Promise<void>;
  /** Forgets the observation; the device's next notification is answered with RST (RFC 7641 §3.6). */
  stopObserving(uri: string): void;
  get(uri: string): Promise<CoapMessage>;
  /** Closes the origin's connection and forgets its requests and observations. */
  reset(origin: string): void;
}

/** ServerKeyExchange (RFC 5246 §7.4.3): what a server with a PSK identity hint sends. */
const SERVER_KEY_EXCHANGE = 12;

/**
 * The packages whose weir patch (patches/, applied by patch-package at
 * `npm install`) is missing. Without them one device can kill the process
 * (identity hint, malformed datagram) or stall the others, so the ingest
 * refuses to start.
 */
export function missingPatches(): string[] {
  const missing: string[] = [];
  if (typeof (CoapClient as unknown as { nextMessageId?: unknown }).nextMessageId !== 'function') missing.push('node-coap-client');
  if ((HandshakeMessages as Record<number, unknown>)[SERVER_KEY_EXCHANGE] === undefined) missing.push('node-dtls-client');
  return missing;
}

function toMessage(r: CoapResponse): CoapMessage {
  const payload = r.payload ?? Buffer.alloc(0);
  return {
    code: r.code.toString(),
    success: r.code.major === 2,
    payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
    format: r.format ?? null,
    observe: r.observe,
    maxAge: r.maxAge,
    messageId: r.messageId,
    confirmable: r.confirmable === true,
  };
}

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export const nodeCoapClient: CoapClientPort = {
  setPsk(origin, psk, dtls) {
    CoapClient.setSecurityParams(origin, {
      psk: { [psk.identity]: psk.key },
      ciphers: [...dtls.ciphers],
      timeout: dtls.handshakeTimeoutMs,
    });
  },
  async connect(origin) {
    const r = await CoapClient.tryToConnect(origin);
    if (r === true) return;
    // tryToConnect folds two outcomes into strings; give them the codes the patched DTLS layer uses.
    if (r === 'auth failed') throw coded('DTLS_AUTH_FAILED', 'DTLS handshake failed (authentication)');
    if (r === 'timeout') throw coded('DTLS_HANDSHAKE_TIMEOUT', 'The DTLS handshake timed out');
    throw r;
  },
  observe(uri, handler) {
    return CoapClient.observe(uri, 'get', (r) => handler(toMessage(r)), undefined, { keepAlive: true, confirmable: true, retransmit: true });
  },
  stopObserving(uri) {
    CoapClient.stopObserving(uri);
  },
  async get(uri) {
    return toMessage(await CoapClient.request(uri, 'get', undefined, { keepAlive: true, confirmable: true, retransmit: true }));
  },
  reset(origin) {
    CoapClient.reset(Origin.parse(origin));
  },
};
