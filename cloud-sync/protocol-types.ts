/**
 * The wire contract's vocabulary: version, media types, routes, limits, the
 * shapes of every body, and the error codes with their HTTP statuses.
 * Import it through protocol.ts (the one entry point of the contract).
 */
export const WIRE_VERSION = 1;
export const CONTENT_TYPE = 'application/cbor';
export const CONTENT_ENCODING = 'deflate';
/** The snapshot download: the uploaded body as is (deflated CBOR), without Content-Encoding so no client inflates it on the way. */
export const SNAPSHOT_MEDIA_TYPE = 'application/vnd.weir.snapshot';

export const ROUTES = {
  batches: '/v1/batches',
  heartbeats: '/v1/heartbeats',
  checkpoints: '/v1/checkpoints',
  gatewayStatus: (gatewayId: string): string => `/v1/gateways/${encodeURIComponent(gatewayId)}/status`,
  snapshot: (gatewayId: string): string => `/v1/gateways/${encodeURIComponent(gatewayId)}/checkpoint/snapshot`,
} as const;

export const WIRE_LIMITS = {
  /** Compressed request body of a batch or heartbeat. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** The same body inflated. */
  maxInflatedBytes: 16 * 1024 * 1024,
  /** Compressed checkpoint snapshot body, and inflated. */
  maxSnapshotBodyBytes: 64 * 1024 * 1024,
  maxSnapshotInflatedBytes: 256 * 1024 * 1024,
  maxRecords: 20_000,
  maxSkippedRanges: 10_000,
  maxPayloadBytes: 256 * 1024,
  maxKindLength: 32,
  maxSeriesLength: 1024,
  maxCounters: 64,
} as const;

/** A gateway's id on the wire: its name, as created with `weir-cloud gateway add NAME`. */
export const GATEWAY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A record's kind on the wire. */
export const KIND_PATTERN = /^[a-z][a-z0-9_-]*$/;

export type Lane = 'ordered' | 'live';
export type WirePriority = 0 | 1 | 2;

export interface WireRecord {
  readonly seq: number;
  /** 'window' | 'anomaly' | 'late' | 'degrade' today; other kinds are stored as opaque payloads. */
  readonly kind: string;
  readonly priority: WirePriority;
  readonly series: string;
  readonly tStart: number;
  readonly tEnd: number;
  readonly payload: Uint8Array;
  /** Sent after an outage or restart rather than live. */
  readonly replayed: boolean;
}

export interface BatchRequest {
  readonly v: number;
  readonly gatewayId: string;
  readonly lane: Lane;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Inclusive [from, to] ranges, ascending; 'ordered' lane only. */
  readonly skipped: readonly (readonly [number, number])[];
  readonly records: readonly WireRecord[];
  readonly sentAtMs: number;
}

export interface BatchAck {
  readonly v: number;
  readonly gatewayId: string;
  /** Every seq ≤ this is stored or tombstoned: the gateway may trim its outbox up to here. */
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly tombstoned: number;
}

export interface DropTotals {
  readonly merges: number;
  readonly superseded: number;
  readonly dropped: readonly [number, number, number];
  readonly droppedBytes: number;
}

export interface HeartbeatBody {
  readonly v: number;
  readonly gatewayId: string;
  readonly sentAtMs: number;
  readonly outbox: {
    readonly rows: number;
    readonly bytes: number;
    readonly rowsByPriority: readonly [number, number, number];
    readonly oldestUnsentAgeMs: number | null;
    readonly nextSeq: number;
    readonly ackedSeq: number;
    readonly overQuota: boolean;
  };
  /** Cumulative degrade totals of the outbox. */
  readonly drops: DropTotals;
  readonly watermarkLagMs: number | null;
  readonly versions: { readonly weir: string; readonly wire: number; readonly node: string };
  /** Uplink counters by name (sentRecords, failures, ...): finite numbers only. */
  readonly counters: Readonly<Record<string, number>>;
}

export interface HeartbeatAck {
  readonly v: number;
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  readonly serverTimeMs: number;
}

/** The gateway's checkpointed state (loadCheckpoint + loadState), columnar. */
export interface CheckpointSnapshot {
  readonly v: number;
  readonly gatewayId: string;
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly committedAtMs: number;
  /** The outbox's next seq when the snapshot was taken. */
  readonly nextSeq: number;
  readonly takenAtMs: number;
  readonly rows: { readonly ns: readonly string[]; readonly keys: readonly string[]; readonly values: readonly Uint8Array[] };
}

export interface CheckpointAck {
  readonly v: number;
  readonly checkpointId: number;
  /** False when this checkpoint id (or a newer one) was already stored. */
  readonly stored: boolean;
}

/** What GET ROUTES.gatewayStatus answers (JSON). */
export interface GatewaySyncStatus {
  readonly gatewayId: string;
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  readonly lastSeenMs: number | null;
  readonly latestCheckpointId: number | null;
}

// ---- errors -------------------------------------------------------------------

/** Stable error codes of the wire; the HTTP status of each is fixed. Never match on message text. */
export const ERROR_STATUS = {
  E_MALFORMED: 400,          // the body is not CBOR (or the query not valid)
  E_BAD_DEFLATE: 400,        // Content-Encoding deflate, but the body does not inflate
  E_WIRE_VERSION: 400,       // `v` missing or not WIRE_VERSION
  E_INVALID: 400,            // CBOR, but a field is missing, of the wrong type or out of range
  E_SEQ_INVALID: 400,        // seqs not ascending, overlapping, or not covering [firstSeq, lastSeq]
  E_UNAUTHENTICATED: 401,    // no credential, or an unknown one
  E_FORBIDDEN: 403,          // the credential may not do this (a reader posting, a gateway reading another)
  E_WRONG_GATEWAY: 403,      // the body names another gateway than the credential's
  E_NOT_FOUND: 404,
  E_METHOD: 405,
  E_BODY_TIMEOUT: 408,       // the body did not arrive in time (slow or stalled client)
  E_SEQ_GAP: 409,            // firstSeq > contiguousSeq + 1; the error carries contiguousSeq
  E_TOO_LARGE: 413,          // body (compressed or inflated) or a count over its limit
  E_UNSUPPORTED_MEDIA: 415,  // not application/cbor with Content-Encoding deflate
  E_INTERNAL: 500,
  E_UNAVAILABLE: 503,        // storage unreachable or the service is shutting down: retry later
} as const;

export type WireErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  readonly code: WireErrorCode;
  readonly message: string;
  /** With E_SEQ_GAP: what the cloud holds, so the gateway rewinds to it. */
  readonly contiguousSeq?: number;
}

export class WireError extends Error {
  readonly code: WireErrorCode;
  readonly status: number;
  readonly contiguousSeq: number | undefined;
  constructor(code: WireErrorCode, message: string, options?: { cause?: unknown; contiguousSeq?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.contiguousSeq = options?.contiguousSeq;
    this.name = 'WireError';
  }

  toBody(): ErrorBody {
    return this.contiguousSeq === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, contiguousSeq: this.contiguousSeq };
  }
}

export function isWireErrorCode(s: unknown): s is WireErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERROR_STATUS, s);
}
