/**
 * devices/: device profiles and payload codecs, shared by the gateway runtime
 * and the firmware simulator. Imports only cbor-x and node builtins.
 */
export type { Codec, DecodeContext, DecodedReading, EncodeContext, OutReading } from './codec.ts';
export { DEFAULT_MAX_BYTES } from './codec.ts';
export { CODECS, codecFor, cborCodec, jsonCodec, senmlCborCodec, senmlJsonCodec } from './codecs/index.ts';
export { DecodeError, EncodeError, ProfileError, isDecodeError } from './errors.ts';
export type { DecodeErrorCode } from './errors.ts';
export type {
  CodecName, CoapTransport, CredentialsRef, DeviceProfile, EventTimeSource, MetricSpec, MqttTransport, SignalSpec, Transport,
} from './profile.ts';
export { CODEC_NAMES, deviceIdPrefix, metricDecimals } from './profile.ts';
export { validateProfile, validateProfiles } from './profile-validate.ts';
export { loadProfilesJson } from './profile-load.ts';
export { BUILTIN_PROFILES, builtinProfile } from './builtin-profiles.ts';
export { checkReading, decodeFrame, deviceIdMatches, matchMqttTopic } from './profile-decode.ts';
export type { FrameContext, ProfileMatch, ReadingIssue } from './profile-decode.ts';
export { checkTopicTemplate, matchTopic, renderTopic, topicFilter } from './topic.ts';
