import { deflateSync, inflateSync } from 'node:zlib';
import { Decoder, Encoder } from 'cbor-x';
import { WIRE_LIMITS, WireError, type BatchRequest, type CheckpointSnapshot, type HeartbeatBody } from './protocol-types.ts';
import { parseSnapshot } from './protocol-parse.ts';
import { encodeBatchCbor } from './batch-encoder.ts';

export * from './protocol-types.ts';
export * from './protocol-parse.ts';

/**
 * THE wire contract between the gateway uplink and cloud-sync (DESIGN
 * "Dependency direction": the edge imports only this file from cloud-sync/).
 * Versioned: every request body carries `v: WIRE_VERSION`; a change to any
 * shape bumps it, and the routes carry it too (/v1/...).
 *
 * Request bodies (batch, heartbeat, checkpoint snapshot) are CBOR
 * (RFC 8949) compressed with deflate: `Content-Type: application/cbor`,
 * `Content-Encoding: deflate` (RFC 9110 §8.4.1.2: the zlib format of
 * RFC 1950). Responses are JSON, except the snapshot download, which is the
 * uploaded snapshot body as it was received.
 *
 * Sequencing rules (DESIGN invariant 4), enforced by the service:
 * - The cloud stores each (gatewayId, seq) at most once and acks
 *   `contiguousSeq`: every seq ≤ it is stored or tombstoned.
 * - lane 'ordered': records (ascending) and `skipped` ranges together cover
 *   [firstSeq, lastSeq] exactly — each seq once. `skipped` are seqs the
 *   gateway will never send (removed from its outbox under quota: merged
 *   away, superseded or dropped); the cloud keeps them as tombstones
 *   (delivered-but-dropped). firstSeq must be ≤ contiguousSeq + 1, else the
 *   batch is refused with E_SEQ_GAP (409) carrying the cloud's
 *   contiguousSeq so the gateway can rewind. Seqs ≤ contiguousSeq are
 *   duplicates: counted, never stored twice.
 * - lane 'live': priority-0 records only (anomalies, the degrade record),
 *   ascending, any seqs beyond contiguousSeq, no `skipped`. They are stored
 *   at once so that after an outage new anomalies arrive before the
 *   backlog; contiguousSeq walks over them once the ordered lane fills
 *   the seqs below (an ordered batch that carries them again gets them
 *   counted as duplicates).
 *
 * This file is the contract's one entry point: the vocabulary lives in
 * protocol-types.ts, the strict parsers in protocol-parse.ts, both
 * re-exported here; the encoding is below (a batch is written by
 * batch-encoder.ts; the service reads it with batch-decoder.ts).
 */

// ---- encoding -------------------------------------------------------------------

// Byte strings go untagged: by default cbor-x tags a Uint8Array (not a Buffer) as RFC 8746 tag 64, two bytes per
// payload that say nothing here (every decoder gives the bytes either way).
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });

/** CBOR, then deflate (zlib format). */
export function encodeBody(value: unknown, level = 6): Uint8Array {
  return deflateSync(encoder.encode(value), { level });
}

/** CBOR of one value, rejecting anything that does not decode exactly (truncated, trailing bytes, too deep). */
export function decodeCbor(bytes: Uint8Array): unknown {
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw new WireError('E_MALFORMED', `body is not valid CBOR: ${(e as Error).message}`, { cause: e });
  }
}

/** Synchronous inflate with an output bound (the service inflates asynchronously; same limits). */
export function inflateBody(bytes: Uint8Array, maxInflatedBytes: number = WIRE_LIMITS.maxInflatedBytes): Uint8Array {
  try {
    return inflateSync(bytes, { maxOutputLength: maxInflatedBytes });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new WireError('E_TOO_LARGE', `body inflates past ${maxInflatedBytes} bytes`, { cause: e });
    throw new WireError('E_BAD_DEFLATE', `body does not inflate: ${(e as Error).message}`, { cause: e });
  }
}

/** A batch body: CBOR written by batch-encoder.ts (the generic encoder for a value of another shape), then deflate. */
export function encodeBatch(b: BatchRequest, level = 6): Uint8Array {
  const cbor = encodeBatchCbor(b);
  return cbor === null ? encodeBody(b, level) : deflateSync(cbor, { level });
}
export const encodeHeartbeat = (h: HeartbeatBody): Uint8Array => encodeBody(h);
export const encodeSnapshot = (s: CheckpointSnapshot): Uint8Array => encodeBody(s);
export const decodeSnapshot = (body: Uint8Array): CheckpointSnapshot =>
  parseSnapshot(decodeCbor(inflateBody(body, WIRE_LIMITS.maxSnapshotInflatedBytes)));
