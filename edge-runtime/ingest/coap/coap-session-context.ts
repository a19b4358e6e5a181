/** What every device session shares: the client, the ingest sink, timers, counters, settings. */
import type { IngestOutcome, RawFrame } from '../ingestor.ts';
import type { Timer } from '../../state/group-commit-log.ts';
import type { Logger } from '../../log.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { CoapClientPort, DtlsSettings } from './coap-client-port.ts';
import type { SecretSources } from './coap-credentials.ts';
import type { CoapDeviceState } from './coap-device-session.ts';
import type { CoapIngestError } from './coap-errors.ts';

/** The part of the Ingestor the CoAP side uses (edge-runtime/ingest/ingestor.ts). */
export interface CoapSink {
  submit(frame: RawFrame): Promise<IngestOutcome>;
  now(): number;
  readonly writable: boolean;
  drained(): Promise<void>;
}

/** Cumulative counters for metrics (observationsActive is computed: see CoapIngest.metrics()). */
export interface CoapIngestCounters {
  /** Successful observe registrations, and those after a device's first (re-registrations). */
  registrations: number;
  reregistrations: number;
  /** Representations taken (notifications, first responses, changed polls). */
  notifications: number;
  /** Readings made durable, and frames the ingestor quarantined. */
  readings: number;
  quarantined: number;
  /** Retransmitted copies (RFC 7252 §4.5) and out-of-order notifications (RFC 7641 §3.4), dropped. */
  duplicates: number;
  reordered: number;
  polls: number;
  pollUnchanged: number;
  lostObservations: number;
  authFailures: number;
  timeouts: number;
  dtlsErrors: number;
  responseErrors: number;
  credentialErrors: number;
  /** Non-confirmable notifications dropped, and confirmable ones left unacknowledged, because the log was behind. */
  droppedOverload: number;
  ackWithheld: number;
  /** Frames the log refused (storage failure): not acknowledged. */
  submitErrors: number;
}

export function newCoapCounters(): CoapIngestCounters {
  return {
    registrations: 0, reregistrations: 0, notifications: 0, readings: 0, quarantined: 0, duplicates: 0, reordered: 0,
    polls: 0, pollUnchanged: 0, lostObservations: 0, authFailures: 0, timeouts: 0, dtlsErrors: 0, responseErrors: 0,
    credentialErrors: 0, droppedOverload: 0, ackWithheld: 0, submitErrors: 0,
  };
}

export interface CoapSessionSettings {
  /** How long a registration (or a poll) may wait for its response. */
  readonly registerTimeoutMs: number;
  /** Fixed watchdog for a silent observation; null = the notification's Max-Age plus `lostGraceMs`. */
  readonly lostAfterMs: number | null;
  readonly lostGraceMs: number;
  readonly backoff: BackoffPolicy;
  /** Frames a device may have waiting while the log is not writable. */
  readonly maxBacklog: number;
  readonly dtls: DtlsSettings;
}

/** Events for logs, metrics and tests: a device changed state, failed, or had a frame made durable. */
export interface CoapIngestEvents {
  state: [deviceId: string, state: CoapDeviceState];
  failure: [deviceId: string, error: CoapIngestError];
  frame: [deviceId: string, outcome: IngestOutcome];
}

export interface CoapSessionContext {
  readonly client: CoapClientPort;
  readonly sink: CoapSink;
  readonly timer: Timer;
  readonly random: () => number;
  readonly logger: Logger;
  readonly secrets: SecretSources;
  readonly counters: CoapIngestCounters;
  readonly settings: CoapSessionSettings;
  emit<K extends keyof CoapIngestEvents>(event: K, ...args: CoapIngestEvents[K]): void;
}
