import type { WireErrorCode } from '../../cloud-sync/protocol.ts';

/**
 * Errors of the uplink. Stable codes; callers switch on `code`. An answer
 * of the cloud that is an error carries the cloud's own code in `wireCode`
 * (protocol.ts ERROR_STATUS) and its HTTP status.
 */
export type UplinkErrorCode =
  | 'E_UPLINK_TIMEOUT'      // a socket phase took too long (connect, response, body, total): `phase` says which
  | 'E_UPLINK_NETWORK'      // connection refused, reset, DNS, TLS failure
  | 'E_UPLINK_HTTP'         // the cloud answered an error: see `status`, `wireCode`
  | 'E_UPLINK_PROTOCOL'     // the cloud answered something that is not the protocol (bad JSON, wrong shape, too large)
  | 'E_UPLINK_SEQ_REUSED'   // the cloud holds seqs this gateway never issued: its outbox was reset; restore from the cloud
  | 'E_UPLINK_NO_SNAPSHOT'  // restore: the cloud has no checkpoint snapshot of this gateway
  | 'E_UPLINK_CONFIG';      // options are wrong (endpoint, token, gateway id)

export type TimeoutPhase = 'connect' | 'response' | 'body' | 'total';

export class UplinkError extends Error {
  readonly code: UplinkErrorCode;
  readonly status: number | undefined;
  readonly wireCode: WireErrorCode | undefined;
  readonly phase: TimeoutPhase | undefined;
  /** From Retry-After on 429/503, in ms. */
  readonly retryAfterMs: number | undefined;
  /** With wireCode E_SEQ_GAP: the cloud's contiguous seq. */
  readonly contiguousSeq: number | undefined;
  /** E_UPLINK_NETWORK: the failed request ran on a kept-alive connection (which the server may just have closed). */
  readonly reusedSocket: boolean;
  constructor(code: UplinkErrorCode, message: string, o: {
    cause?: unknown; status?: number; wireCode?: WireErrorCode; phase?: TimeoutPhase; retryAfterMs?: number; contiguousSeq?: number; reusedSocket?: boolean;
  } = {}) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.status = o.status;
    this.wireCode = o.wireCode;
    this.phase = o.phase;
    this.retryAfterMs = o.retryAfterMs;
    this.contiguousSeq = o.contiguousSeq;
    this.reusedSocket = o.reusedSocket ?? false;
    this.name = 'UplinkError';
  }

  /** Worth retrying as is: network trouble, timeouts, 408/429 and 5xx. Other 4xx need a change first. */
  get transient(): boolean {
    if (this.code === 'E_UPLINK_TIMEOUT' || this.code === 'E_UPLINK_NETWORK') return true;
    if (this.code !== 'E_UPLINK_HTTP' || this.status === undefined) return false;
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}
