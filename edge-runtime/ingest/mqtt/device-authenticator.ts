/**
 * Checks a connecting device's username (its device id) and password (its
 * secret or token) against the hashed credentials.
 *
 * - scrypt runs on libuv's thread pool, at most `maxConcurrent` at once;
 *   beyond `maxQueued` waiting, a connect is refused as busy (CONNACK 3,
 *   the device retries with its backoff) rather than queued without bound.
 * - A verified secret is remembered as an HMAC under a key that exists only
 *   in this process (never the secret), bounded by `cacheSize` (least
 *   recently used out), and forgotten as soon as the device's stored entry
 *   changes. So a reconnect storm costs one scrypt per device per process
 *   lifetime, not one per connect.
 * - Device ids are not secret (they are in topics), so unknown ids fail fast
 *   without a dummy hash; wrong secrets are compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseHash, verifySecret } from './credentials-file.ts';

export type AuthFailure = 'missing-credentials' | 'unknown-device' | 'bad-secret' | 'client-id-mismatch' | 'busy';

export type AuthResult =
  | { readonly ok: true; readonly deviceId: string; readonly cached: boolean }
  | { readonly ok: false; readonly reason: AuthFailure };

/** Where stored hashes come from (CredentialsFile satisfies it). */
export interface CredentialLookup {
  get(deviceId: string): string | undefined;
}

export interface DeviceAuthenticatorOptions {
  readonly credentials: CredentialLookup;
  /** scrypt verifications running at once (default 2). */
  readonly maxConcurrent?: number;
  /** Verifications waiting for a slot before connects are refused as busy (default 1,000). */
  readonly maxQueued?: number;
  /** Verified secrets remembered (default 20,000). */
  readonly cacheSize?: number;
  /** The MQTT client id must equal the device id (default true): no device can take over another's session [MQTT-3.1.4-2]. */
  readonly requireClientIdMatch?: boolean;
}

export interface AuthCounters {
  ok: number;
  /** Of `ok`, how many were answered from the verified-secret cache. */
  cached: number;
  failed: number;
  byReason: Record<AuthFailure, number>;
}

export interface AuthAttempt {
  readonly username: string | undefined;
  readonly password: Uint8Array | undefined;
  readonly clientId: string;
}

export class DeviceAuthenticator {
  readonly counters: AuthCounters = {
    ok: 0, cached: 0, failed: 0,
    byReason: { 'missing-credentials': 0, 'unknown-device': 0, 'bad-secret': 0, 'client-id-mismatch': 0, busy: 0 },
  };
  private credentials: CredentialLookup;
  private readonly macKey = randomBytes(32);
  private readonly cache = new Map<string, { readonly entry: string; readonly mac: Buffer }>();
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly cacheSize: number;
  private readonly clientIdMatch: boolean;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(opts: DeviceAuthenticatorOptions) {
    this.credentials = opts.credentials;
    this.maxConcurrent = opts.maxConcurrent ?? 2;
    this.maxQueued = opts.maxQueued ?? 1000;
    this.cacheSize = opts.cacheSize ?? 20_000;
    this.clientIdMatch = opts.requireClientIdMatch ?? true;
  }

  /** Swaps in reloaded credentials; cached verifications of changed or removed entries stop counting. */
  setCredentials(credentials: CredentialLookup): void {
    this.credentials = credentials;
  }

  async authenticate(a: AuthAttempt): Promise<AuthResult> {
    const r = await this.check(a);
    if (r.ok) {
      this.counters.ok++;
      if (r.cached) this.counters.cached++;
    } else {
      this.counters.failed++;
      this.counters.byReason[r.reason]++;
    }
    return r;
  }

  private async check(a: AuthAttempt): Promise<AuthResult> {
    if (a.username === undefined || a.username === '' || a.password === undefined || a.password.length === 0) {
      return { ok: false, reason: 'missing-credentials' };
    }
    const deviceId = a.username;
    const entry = this.credentials.get(deviceId);
    if (entry === undefined) return { ok: false, reason: 'unknown-device' };
    if (this.clientIdMatch && a.clientId !== deviceId) return { ok: false, reason: 'client-id-mismatch' };
    const mac = createHmac('sha256', this.macKey).update(a.password).digest();
    const hit = this.cache.get(deviceId);
    if (hit !== undefined && hit.entry === entry) {
      if (timingSafeEqual(hit.mac, mac)) {
        this.cache.delete(deviceId); // refresh its place: least recently used goes first
        this.cache.set(deviceId, hit);
        return { ok: true, deviceId, cached: true };
      }
      // A different secret than the cached one: verify it properly (it may have been rotated in place).
    }
    if (!this.acquireOrRefuse()) return { ok: false, reason: 'busy' };
    await this.slot();
    let ok: boolean;
    try {
      ok = await verifySecret(a.password, parseHash(entry, `device ${deviceId}`));
    } catch {
      ok = false; // a malformed entry (file edited by hand after load) refuses that device only
    } finally {
      this.release();
    }
    if (!ok) return { ok: false, reason: 'bad-secret' };
    // The entry may have changed while scrypt ran; cache only what was checked against the current one.
    if (this.credentials.get(deviceId) === entry) {
      this.cache.delete(deviceId);
      this.cache.set(deviceId, { entry, mac });
      if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    }
    return { ok: true, deviceId, cached: false };
  }

  private acquireOrRefuse(): boolean {
    return this.running < this.maxConcurrent || this.waiting.length < this.maxQueued;
  }

  private slot(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => {
      this.running++;
      resolve();
    }));
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
