/** SenML JSON (RFC 8428 §5): `[{"bn":"env-0001:","bt":1767225600,"n":"temperature","u":"Cel","v":21.37}, ...]`. */
import type { Codec, DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { checkSize, guardDecode, jsonBytes, parseJson } from './payload-guard.ts';
import { parsePack, resolvePack, toRecords } from './senml.ts';

export const senmlJsonCodec = {
  name: 'senml-json',
  mediaType: 'application/senml+json',
  contentFormat: 110, // RFC 8428 §12.3.1
  encode(readings: readonly OutReading[], ctx: EncodeContext): Uint8Array {
    return jsonBytes(toRecords(readings, ctx));
  },
  decode(bytes: Uint8Array, ctx: DecodeContext): DecodedReading[] {
    checkSize(bytes, ctx);
    return guardDecode(() => resolvePack(parsePack(parseJson(bytes), false), ctx));
  },
} as const satisfies Codec;
