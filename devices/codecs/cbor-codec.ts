/** Raw CBOR: the flat model of `json` (`{ts, <metric>: number}` or an array of them) encoded as CBOR maps with text keys. */
import type { Codec, DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { cborBytes, parseCbor } from './cbor-io.ts';
import { flatToPlain, fromFlat, toFlatSamples } from './flat-record.ts';
import { checkSize, guardDecode } from './payload-guard.ts';

export const cborCodec = {
  name: 'cbor',
  mediaType: 'application/cbor',
  contentFormat: 60, // RFC 7049 §7.4 / RFC 8949 §9.5
  encode(readings: readonly OutReading[], ctx: EncodeContext): Uint8Array {
    return cborBytes(flatToPlain(toFlatSamples(readings, ctx)));
  },
  decode(bytes: Uint8Array, ctx: DecodeContext): DecodedReading[] {
    checkSize(bytes, ctx);
    return guardDecode(() => fromFlat(parseCbor(bytes), ctx));
  },
} as const satisfies Codec;
