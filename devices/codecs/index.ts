/** The codec registry: one `Codec` per profile codec name. */
import type { Codec } from '../codec.ts';
import type { CodecName } from '../profile.ts';
import { cborCodec } from './cbor-codec.ts';
import { jsonCodec } from './json-codec.ts';
import { senmlCborCodec } from './senml-cbor-codec.ts';
import { senmlJsonCodec } from './senml-json-codec.ts';

export const CODECS: Readonly<Record<CodecName, Codec>> = {
  json: jsonCodec,
  'senml-json': senmlJsonCodec,
  'senml-cbor': senmlCborCodec,
  cbor: cborCodec,
};

export function codecFor(name: CodecName): Codec {
  return CODECS[name];
}

export { cborCodec, jsonCodec, senmlCborCodec, senmlJsonCodec };
