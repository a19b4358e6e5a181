/** SenML CBOR (RFC 8428 §6): an array of maps keyed by the integer labels of Table 4. */
import type { Codec, DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { cborBytes, parseCbor } from './cbor-io.ts';
import { checkSize, guardDecode } from './payload-guard.ts';
import { parsePack, recordsToCborMaps, resolvePack, toRecords } from './senml.ts';

export const senmlCborCodec = {
  name: 'senml-cbor',
  mediaType: 'application/senml+cbor',
  contentFormat: 112, // RFC 8428 §12.3.1
  encode(readings: readonly OutReading[], ctx: EncodeContext): Uint8Array {
    return cborBytes(recordsToCborMaps(toRecords(readings, ctx)));
  },
  decode(bytes: Uint8Array, ctx: DecodeContext): DecodedReading[] {
    checkSize(bytes, ctx);
    return guardDecode(() => resolvePack(parsePack(parseCbor(bytes), true), ctx));
  },
} as const satisfies Codec;
