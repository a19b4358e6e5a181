import type { HeartbeatBody, Lane, WireRecord } from '../protocol.ts';
import type { RecordIndex } from '../payload-index.ts';

/**
 * The one storage interface of cloud-sync, with two implementations:
 * SqliteStorage (default: one file, zero setup) and PgStorage (when
 * DATABASE_URL is set: many service copies on one database). One contract
 * suite (storage-contract.ts) runs against both.
 *
 * Concurrency: every write that depends on a gateway's sequencing state
 * (`ingest`) runs in one transaction holding that gateway's row lock, so
 * any number of service instances can receive the same batches at once and
 * each (gateway, seq) is stored exactly once.
 */

export type Principal =
  | { readonly role: 'gateway'; readonly gatewayId: number; readonly gateway: string }
  | { readonly role: 'reader'; readonly name: string };

export type IngestRecord = WireRecord & RecordIndex;

export interface IngestBatch {
  readonly lane: Lane;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly skipped: readonly (readonly [number, number])[];
  readonly records: readonly IngestRecord[];
}

export interface IngestResult {
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  /** Records written by this call. */
  readonly stored: number;
  /** `stored`, by record kind (only kinds with at least one record written). */
  readonly storedByKind: Readonly<Record<string, number>>;
  /** Records the store already held (a retried batch, or a live-lane record sent again in order). */
  readonly duplicates: number;
  /** Seqs newly recorded as delivered-but-dropped. */
  readonly tombstoned: number;
}

export interface SyncState {
  readonly contiguousSeq: number;
  readonly highestSeq: number;
}

export interface SnapshotMeta {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly committedAtMs: number;
  readonly nextSeq: number;
  readonly stateRows: number;
  /** Size of the stored (compressed) snapshot body. */
  readonly bytes: number;
}

export interface StoredSnapshot {
  readonly meta: SnapshotMeta & { readonly receivedAtMs: number };
  /** The body exactly as uploaded: CBOR + deflate (protocol.ts CheckpointSnapshot). */
  readonly body: Uint8Array;
}

export interface StoredRecord {
  readonly gateway: string;
  readonly seq: number;
  readonly kind: string;
  readonly priority: number;
  readonly series: string;
  readonly tStart: number;
  readonly tEnd: number;
  readonly replayed: boolean;
  readonly receivedAtMs: number;
  readonly pipeline: string | null;
  readonly deviceId: string | null;
  readonly metric: string | null;
  readonly payload: Uint8Array;
}

export interface RecordQuery {
  readonly kind: string;
  readonly gateway?: string;
  readonly deviceId?: string;
  readonly metric?: string;
  readonly pipeline?: string;
  /** Records whose [tStart, tEnd) overlaps [from, to). */
  readonly from: number;
  readonly to: number;
  readonly limit: number;
}

export type SeqState = 'stored' | 'dropped' | 'missing';

export interface SeqStatus {
  readonly gateway: string;
  readonly seq: number;
  readonly state: SeqState;
  readonly contiguousSeq: number;
  readonly record: { readonly kind: string; readonly priority: number; readonly receivedAtMs: number; readonly replayed: boolean } | null;
}

export interface GatewayRow {
  readonly id: number;
  readonly name: string;
  readonly createdAtMs: number;
  readonly contiguousSeq: number;
  readonly highestSeq: number;
  /** Last accepted batch or heartbeat. */
  readonly lastSeenMs: number | null;
  readonly heartbeat: HeartbeatBody | null;
  readonly heartbeatAtMs: number | null;
  readonly latestCheckpoint: (SnapshotMeta & { readonly receivedAtMs: number }) | null;
}

/** Row counts and per-gateway sequencing state: two equal values mean nothing was stored in between. */
export interface StorageCounts {
  readonly gateways: number;
  readonly credentials: number;
  readonly records: number;
  readonly skips: number;
  readonly checkpoints: number;
  /** name:contiguous:highest:lastSeen:heartbeatAt for every gateway, sorted. */
  readonly gatewayState: readonly string[];
}

export interface CloudStorage {
  readonly backend: 'sqlite' | 'postgres';
  /** Creates a gateway and its first credential. E_EXISTS if the name is taken. */
  addGateway(name: string, tokenHash: string, nowMs: number): Promise<void>;
  /** Another credential for an existing gateway (e.g. its replacement hardware). E_NO_SUCH_GATEWAY. */
  addGatewayToken(name: string, tokenHash: string, nowMs: number): Promise<void>;
  /** A read-only credential for the query API. E_EXISTS if the name is taken. */
  addReader(name: string, tokenHash: string, nowMs: number): Promise<void>;
  authenticate(tokenHash: string): Promise<Principal | null>;

  /** Stores a validated batch. Throws WireError E_SEQ_GAP (with contiguousSeq) and stores nothing when an ordered batch starts past contiguousSeq + 1. */
  ingest(gatewayId: number, batch: IngestBatch, nowMs: number): Promise<IngestResult>;
  heartbeat(gatewayId: number, body: HeartbeatBody, nowMs: number): Promise<SyncState>;
  /** Stores a snapshot; false (nothing written) when this checkpoint id or a newer one is stored. Keeps the latest two. */
  putCheckpoint(gatewayId: number, meta: SnapshotMeta, body: Uint8Array, nowMs: number): Promise<boolean>;
  latestCheckpoint(gateway: string): Promise<StoredSnapshot | null>;

  /** null when the gateway does not exist. */
  seqStatus(gateway: string, seq: number): Promise<SeqStatus | null>;
  /** All gateways, or the one named. */
  gateways(name?: string): Promise<GatewayRow[]>;
  /** Records of one kind, ordered by gateway then seq, at most `limit`. */
  queryRecords(q: RecordQuery): Promise<StoredRecord[]>;
  counts(): Promise<StorageCounts>;
  /** A cheap read that proves the database answers and holds our schema (/healthz). Throws when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
