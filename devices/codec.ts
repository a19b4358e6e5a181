/**
 * The one interface every payload codec implements. `decode` either returns
 * readings or throws a `DecodeError` with a stable code — never any other
 * exception (the shared contract suite `codecs/codec-contract.test.ts` proves it
 * for each codec). The runtime stamps `arrivalTime` and builds `Reading`s.
 */
import type { CodecName } from './profile.ts';

/** A reading as a device encodes it. `eventTime` is ms since epoch; absent when the profile uses arrival time. */
export interface OutReading {
  readonly metric: string;
  readonly value: number;
  readonly eventTime?: number;
  /** SenML unit (ignored by flat codecs). */
  readonly unit?: string;
}

/** A reading as decoded from a payload. */
export interface DecodedReading {
  readonly deviceId: string;
  readonly metric: string;
  readonly value: number;
  /** Event time in ms since epoch, when the payload carries one. */
  readonly eventTime?: number;
}

export interface EncodeContext {
  readonly deviceId: string;
  /** Flat codecs: name of the event-time field (default `ts`). */
  readonly timeField?: string;
}

export interface DecodeContext {
  /** The device the transport says sent this (from the topic or the observed endpoint). */
  readonly deviceId?: string;
  /**
   * Flat codecs: the event-time field, required in every sample when set.
   * When unset, the payload carries no time and readings have no eventTime.
   */
  readonly timeField?: string;
  /** Gateway arrival time (ms); SenML relative times (RFC 8428 §4.5.3) resolve against it. */
  readonly arrivalTime?: number;
  /** Refuse payloads larger than this many bytes (default 65,536). */
  readonly maxBytes?: number;
}

export interface Codec {
  readonly name: CodecName;
  /** IANA media type. */
  readonly mediaType: string;
  /** CoAP Content-Format number (RFC 7252 §12.3 registry), if registered. */
  readonly contentFormat?: number;
  encode(readings: readonly OutReading[], ctx: EncodeContext): Uint8Array;
  decode(bytes: Uint8Array, ctx: DecodeContext): DecodedReading[];
}

export const DEFAULT_MAX_BYTES = 65_536;
