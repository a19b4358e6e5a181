/**
 * cbor-x configured for interoperable CBOR (RFC 8949): no record extension
 * (tag 105), no tag 259 for maps, maps decoded as `Map` so integer keys
 * (SenML CBOR labels) and string keys stay distinct and no key can reach an
 * object prototype.
 */
import { Decoder, Encoder } from 'cbor-x';
import { DecodeError } from '../errors.ts';

// mapsAsObjects: false also turns off tag 259 on Map values (cbor-x encode.js).
const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

export function cborBytes(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** One complete CBOR data item → value; anything else (truncated, trailing bytes, bad tag) is E_DECODE_CBOR. */
export function parseCbor(bytes: Uint8Array): unknown {
  try {
    return decoder.decode(bytes) as unknown;
  } catch (e) {
    throw new DecodeError('E_DECODE_CBOR', '', 'payload is not well-formed CBOR', { cause: e });
  }
}
