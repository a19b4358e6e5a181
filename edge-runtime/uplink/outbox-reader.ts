import { encodeBatch, type BatchRequest } from '../../cloud-sync/protocol.ts';
import type { OutboxRow, StateStore } from '../state/store-types.ts';
import { liveBatch, orderedBatch, type ReplayedRule } from './batch-builder.ts';

/** A batch and its encoded body. */
export interface Built {
  readonly batch: BatchRequest;
  readonly encoded: Uint8Array;
}

/** A batch's worth of outbox rows after `cursor`, whether more follow, and the batch built from them when asked. */
export interface Prepared {
  readonly cursor: number;
  readonly rows: readonly OutboxRow[];
  readonly more: boolean;
  readonly built: Built | null;
}

/**
 * Reads the outbox for the uplink, a batch's worth at a time (maxRecords
 * rows, maxBytes of outbox bytes), and builds and encodes batches. The
 * limits halve on shrink() (the cloud said E_TOO_LARGE).
 */
export class OutboxReader {
  constructor(
    private readonly store: StateStore,
    private readonly gatewayId: string,
    private readonly replayed: ReplayedRule,
    private maxRecords: number,
    private maxBytes: number,
    private readonly compressionLevel: number,
  ) {}

  async prepare(cursor: number, now: number, build: boolean): Promise<Prepared> {
    const rows = await this.store.readOutbox({ afterSeq: cursor, limit: this.maxRecords, maxBytes: this.maxBytes });
    const last = rows[rows.length - 1];
    const more = last !== undefined && (rows.length === this.maxRecords || (await this.store.readOutbox({ afterSeq: last.seq, limit: 1 })).length > 0);
    return { cursor, rows, more, built: build && rows.length > 0 ? this.ordered(cursor, rows, now) : null };
  }

  ordered(cursor: number, rows: readonly OutboxRow[], now: number): Built {
    return this.encode(orderedBatch(this.gatewayId, cursor, rows, this.replayed, now));
  }

  /** Priority-0 rows after `afterSeq` as a live-lane batch, or null when there are none. */
  async live(afterSeq: number, now: number): Promise<Built | null> {
    const rows = await this.store.readOutbox({ afterSeq, limit: this.maxRecords, maxBytes: this.maxBytes, minPriority: 0 });
    return rows.length === 0 ? null : this.encode(liveBatch(this.gatewayId, rows, this.replayed, now));
  }

  /** Halves the batch limits; false when they cannot go lower. */
  shrink(): boolean {
    if (this.maxRecords <= 1) return false;
    this.maxRecords = Math.max(1, Math.floor(this.maxRecords / 2));
    this.maxBytes = Math.max(16 * 1024, Math.floor(this.maxBytes / 2));
    return true;
  }

  private encode(batch: BatchRequest): Built {
    return { batch, encoded: encodeBatch(batch, this.compressionLevel) };
  }
}
