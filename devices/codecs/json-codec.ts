/** Flat JSON: `{"ts":1767225600000,"temperature":21.37,"humidity":40.1}` or an array of such samples. */
import type { Codec, DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { flatToPlain, fromFlat, toFlatSamples } from './flat-record.ts';
import { checkSize, guardDecode, jsonBytes, parseJson } from './payload-guard.ts';

export const jsonCodec = {
  name: 'json',
  mediaType: 'application/json',
  contentFormat: 50, // RFC 7252 §12.3
  encode(readings: readonly OutReading[], ctx: EncodeContext): Uint8Array {
    return jsonBytes(flatToPlain(toFlatSamples(readings, ctx)));
  },
  decode(bytes: Uint8Array, ctx: DecodeContext): DecodedReading[] {
    checkSize(bytes, ctx);
    return guardDecode(() => fromFlat(parseJson(bytes), ctx));
  },
} as const satisfies Codec;
