import { WIRE_VERSION, decodeSnapshot, type CheckpointSnapshot } from '../../cloud-sync/protocol.ts';
import type { StateStore } from '../state/store-types.ts';
import { CloudClient, type CloudClientOptions } from './cloud-client.ts';
import { UplinkError } from './uplink-errors.ts';

/**
 * Checkpoint snapshots for the cloud, and restore from them.
 *
 * takeSnapshot reads the last checkpoint's state consistently without a
 * store transaction: loadCheckpoint, then every state row, then
 * loadCheckpoint again. Checkpoint ids only grow and state rows are only
 * written by checkpoints, and the store executes calls in order, so equal
 * ids before and after mean no checkpoint committed in between and the rows
 * are exactly that checkpoint's; otherwise it reads again.
 */
export async function takeSnapshot(store: StateStore, gatewayId: string, nowMs: number, attempts = 3): Promise<CheckpointSnapshot | null> {
  for (let i = 0; i < attempts; i++) {
    const before = await store.loadCheckpoint();
    if (before === null) return null;
    const ns: string[] = [];
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    for await (const r of store.loadState()) {
      ns.push(r.ns);
      keys.push(r.key);
      values.push(r.value);
    }
    const { nextSeq } = await store.outboxStats(nowMs);
    const after = await store.loadCheckpoint();
    if (after !== null && after.checkpointId === before.checkpointId) {
      return {
        v: WIRE_VERSION, gatewayId, checkpointId: before.checkpointId, consumedOffset: before.consumedOffset,
        committedAtMs: before.committedAtMs, nextSeq, takenAtMs: nowMs, rows: { ns, keys, values },
      };
    }
  }
  return null; // checkpoints kept committing under us; the next period tries again
}

export interface RestoreResult {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly stateRows: number;
  /** The first seq this gateway will issue: after everything the old one issued or the cloud holds. */
  readonly nextSeq: number;
  readonly cloudContiguousSeq: number;
  readonly cloudHighestSeq: number;
}

/**
 * `weir restore --from-cloud`: on a replacement gateway with a fresh store,
 * fetch the latest snapshot and the cloud's seqs for this gateway and seed
 * the store (StateStore.importCheckpoint). The outbox continues after both
 * the snapshot's nextSeq and the highest seq the cloud holds, so no seq is
 * ever issued twice. Readings the old gateway took after its last uploaded
 * snapshot are lost with it; results it had sent stay in the cloud.
 */
export async function restoreFromCloud(store: StateStore, client: CloudClientOptions | CloudClient, nowMs: number): Promise<RestoreResult> {
  const c = client instanceof CloudClient ? client : new CloudClient(client);
  try {
    const status = await c.status();
    const body = await c.snapshot();
    if (body === null) throw new UplinkError('E_UPLINK_NO_SNAPSHOT', `the cloud has no checkpoint snapshot of gateway ${c.gatewayId}`);
    let snap: CheckpointSnapshot;
    try {
      snap = decodeSnapshot(body);
    } catch (e) {
      throw new UplinkError('E_UPLINK_PROTOCOL', `the cloud's snapshot does not decode: ${(e as Error).message}`, { cause: e });
    }
    if (snap.gatewayId !== c.gatewayId) throw new UplinkError('E_UPLINK_PROTOCOL', `snapshot of gateway ${snap.gatewayId}, not ${c.gatewayId}`);
    const nextSeq = Math.max(snap.nextSeq, status.highestSeq + 1);
    await store.importCheckpoint({
      checkpointId: snap.checkpointId,
      consumedOffset: snap.consumedOffset,
      nextSeq,
      nowMs,
      rows: snap.rows.ns.map((ns, i) => ({ ns, key: snap.rows.keys[i]!, value: snap.rows.values[i]! })),
    });
    return {
      checkpointId: snap.checkpointId, consumedOffset: snap.consumedOffset, stateRows: snap.rows.ns.length, nextSeq,
      cloudContiguousSeq: status.contiguousSeq, cloudHighestSeq: status.highestSeq,
    };
  } finally {
    if (!(client instanceof CloudClient)) c.close();
  }
}
