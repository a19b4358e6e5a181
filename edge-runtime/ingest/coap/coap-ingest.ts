/**
 * CoAP ingest: observes (RFC 7641) or polls every configured CoAP device with
 * node-coap-client and feeds each representation to the shared Ingestor as a
 * RawFrame with the device's profile. One session per device
 * (coap-device-session.ts) keeps failures apart: a device that is down,
 * refuses our key, or sends garbage changes only its own status.
 *
 * Wiring (the gateway process): build after the runtime and Ingestor; close
 * before them, so frames in flight become durable and are acknowledged first.
 *
 *   const coap = new CoapIngest({ profiles, devices, ingestor, logger });
 *   coap.start();
 *   ... coap.metrics(), coap.status() ...
 *   await coap.close(); await runtime.close();
 */
import { EventEmitter } from 'node:events';
import type { DeviceProfile } from '../../../devices/index.ts';
import { silentLogger } from '../../log.ts';
import type { Logger } from '../../log.ts';
import { systemTimer } from '../../state/group-commit-log.ts';
import type { Timer } from '../../state/group-commit-log.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import { missingPatches, nodeCoapClient } from './coap-client-port.ts';
import type { CipherSuiteName, CoapClientPort } from './coap-client-port.ts';
import { processSecrets } from './coap-credentials.ts';
import type { SecretSources } from './coap-credentials.ts';
import { resolveCoapTargets } from './coap-device-config.ts';
import { CoapIngestError } from './coap-errors.ts';
import type { CoapDeviceEntry } from './coap-device-config.ts';
import { CoapDeviceSession } from './coap-device-session.ts';
import type { CoapDeviceStatus } from './coap-device-session.ts';
import { newCoapCounters } from './coap-session-context.ts';
import type { CoapIngestCounters, CoapIngestEvents, CoapSessionContext, CoapSessionSettings, CoapSink } from './coap-session-context.ts';

/** CoAP's mandatory PSK suite (RFC 7252 §9.1.3.1) and the one other that interoperates with libcoap/OpenSSL here. */
export const DEFAULT_CIPHERS: readonly CipherSuiteName[] = ['TLS_PSK_WITH_AES_128_CCM_8', 'TLS_PSK_WITH_AES_128_GCM_SHA256'];

export interface CoapIngestOptions {
  readonly profiles: readonly DeviceProfile[];
  /** device id → endpoint (see coap-device-config.ts); a bad entry throws a ConfigError naming it. */
  readonly devices: readonly CoapDeviceEntry[];
  /** The shared Ingestor (or anything with its submit/now/writable/drained). */
  readonly ingestor: CoapSink;
  readonly logger?: Logger;
  /** Timers for deadlines, watchdogs, backoff and polls (tests inject a manual one). */
  readonly timer?: Timer;
  /** Jitter source in [0, 1) (default Math.random). */
  readonly random?: () => number;
  readonly secrets?: SecretSources;
  readonly client?: CoapClientPort;
  /** Time a registration or poll may wait for its response (default 10,000 ms). */
  readonly registerTimeoutMs?: number;
  /** Re-register after this much silence; default: the notification's Max-Age (60 s if absent) + lostGraceMs. */
  readonly lostAfterMs?: number;
  /** Added to Max-Age for the watchdog (default 5,000 ms). */
  readonly lostGraceMs?: number;
  readonly backoff?: Partial<BackoffPolicy>;
  /** Frames a device may have waiting while the log is not writable (default 16). */
  readonly maxBacklogPerDevice?: number;
  /** DTLS handshake timeout per attempt (default 2,000 ms: above OpenSSL's 1 s retransmission, see README). */
  readonly handshakeTimeoutMs?: number;
  readonly ciphers?: readonly CipherSuiteName[];
}

export interface CoapIngestMetrics extends CoapIngestCounters {
  readonly devices: number;
  /** Devices with an established observation right now. */
  readonly observationsActive: number;
  /** Devices being polled right now. */
  readonly pollingActive: number;
  /** Devices waiting to retry. */
  readonly inBackoff: number;
}

export class CoapIngest {
  readonly counters: CoapIngestCounters = newCoapCounters();
  readonly events = new EventEmitter<CoapIngestEvents>();
  private readonly sessions = new Map<string, CoapDeviceSession>();
  private readonly logger: Logger;
  private started = false;
  private closing: Promise<void> | null = null;

  constructor(opts: CoapIngestOptions) {
    this.logger = opts.logger ?? silentLogger;
    if (opts.client === undefined) {
      const missing = missingPatches();
      if (missing.length > 0) {
        throw new CoapIngestError('E_COAP_UNPATCHED', null, `${missing.join(' and ')} lack weir's patch (patches/; run npm install, which applies them with patch-package)`);
      }
    }
    const settings: CoapSessionSettings = {
      registerTimeoutMs: opts.registerTimeoutMs ?? 10_000,
      lostAfterMs: opts.lostAfterMs ?? null,
      lostGraceMs: opts.lostGraceMs ?? 5000,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
      maxBacklog: opts.maxBacklogPerDevice ?? 16,
      dtls: { ciphers: opts.ciphers ?? DEFAULT_CIPHERS, handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 2000 },
    };
    const ctx: CoapSessionContext = {
      client: opts.client ?? nodeCoapClient,
      sink: opts.ingestor,
      timer: opts.timer ?? systemTimer,
      random: opts.random ?? Math.random,
      logger: this.logger,
      secrets: opts.secrets ?? processSecrets,
      counters: this.counters,
      settings,
      emit: (event, ...args) => {
        try {
          (this.events.emit as (e: string, ...a: unknown[]) => boolean).call(this.events, event, ...args);
        } catch (e) {
          // A listener's bug must not break a device's state machine.
          this.logger.log('error', 'coap ingest event listener threw', { event, error: String(e) });
        }
      },
    };
    for (const target of resolveCoapTargets(opts.devices, opts.profiles)) {
      this.sessions.set(target.deviceId, new CoapDeviceSession(target, ctx));
    }
  }

  /** Starts observing (or polling) every device. Failures are per device: see status(). */
  start(): void {
    if (this.started || this.closing !== null) return;
    this.started = true;
    this.logger.log('info', 'coap ingest starting', { devices: this.sessions.size });
    for (const s of this.sessions.values()) s.start();
  }

  /** Deregisters, lets frames in flight become durable (and be acknowledged), closes every connection. */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.sessions.values()].map((s) => s.close())).then(() => {
      this.logger.log('info', 'coap ingest closed', { notifications: this.counters.notifications });
    });
    return this.closing;
  }

  status(): CoapDeviceStatus[] {
    return [...this.sessions.values()].map((s) => s.status());
  }

  device(deviceId: string): CoapDeviceStatus | undefined {
    return this.sessions.get(deviceId)?.status();
  }

  metrics(): CoapIngestMetrics {
    let observationsActive = 0;
    let pollingActive = 0;
    let inBackoff = 0;
    for (const s of this.sessions.values()) {
      if (s.state === 'observing') observationsActive++;
      else if (s.state === 'polling') pollingActive++;
      else if (s.state === 'backoff') inBackoff++;
    }
    return { ...this.counters, devices: this.sessions.size, observationsActive, pollingActive, inBackoff };
  }
}
