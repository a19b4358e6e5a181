/**
 * Stable codes for what went wrong with a CoAP device. A device's status and
 * the logs carry these; callers switch on `code`, never on message text.
 */
export type CoapErrorCode =
  | 'E_COAP_AUTH'          // DTLS PSK handshake refused: wrong key or unknown identity
  | 'E_COAP_TIMEOUT'       // no answer: handshake, registration or poll timed out
  | 'E_COAP_DTLS'          // any other DTLS failure (protocol error, unexpected alert)
  | 'E_COAP_RESPONSE'      // the device answered with a 4.xx/5.xx code (RFC 7252 §5.9)
  | 'E_COAP_CREDENTIALS'   // the profile's credentials reference cannot be resolved
  | 'E_COAP_LOST'          // an established observation went silent past its deadline
  | 'E_COAP_OVERLOAD'      // the device's backlog is full: a confirmable notification is not acknowledged
  | 'E_COAP_STORAGE'       // the ingest log refused the frame (e.g. disk full); not acknowledged
  | 'E_COAP_CLOSED'        // the ingest closed before the frame was taken; not acknowledged
  | 'E_COAP_UNPATCHED';    // node-coap-client / node-dtls-client lack weir's patches (patches/): refuse to start

export class CoapIngestError extends Error {
  readonly code: CoapErrorCode;
  readonly deviceId: string | null;
  constructor(code: CoapErrorCode, deviceId: string | null, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.deviceId = deviceId;
    this.name = 'CoapIngestError';
  }
}

export function isCoapIngestError(e: unknown): e is CoapIngestError {
  return e instanceof CoapIngestError;
}

/**
 * Error codes node-dtls-client sets (weir's patch, patches/node-dtls-client+*.patch):
 * DTLS_AUTH_FAILED, DTLS_HANDSHAKE_TIMEOUT, DTLS_CONNECTION_TIMEOUT, DTLS_ALERT, DTLS_PROTOCOL_ERROR.
 */
function libraryCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps what a connection attempt failed with to a stable code. */
export function classifyConnectFailure(deviceId: string, e: unknown): CoapIngestError {
  const message = e instanceof Error ? e.message : String(e);
  switch (libraryCode(e)) {
    case 'DTLS_AUTH_FAILED':
      return new CoapIngestError('E_COAP_AUTH', deviceId, `DTLS PSK handshake refused (wrong key or identity): ${message}`, { cause: e });
    case 'DTLS_HANDSHAKE_TIMEOUT':
    case 'DTLS_CONNECTION_TIMEOUT':
      return new CoapIngestError('E_COAP_TIMEOUT', deviceId, `no DTLS handshake: ${message}`, { cause: e });
    default:
      return new CoapIngestError('E_COAP_DTLS', deviceId, `connection failed: ${message}`, { cause: e });
  }
}
