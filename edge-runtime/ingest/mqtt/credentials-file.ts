/**
 * Device credentials, stored hashed: a JSON file mapping device id to an
 * scrypt hash of the device's secret (its MQTT password or token),
 *
 *   { "env-0001": "scrypt$1024$8$1$<salt, base64url>$<hash, base64url>" }
 *
 * with a fresh random salt per entry and the cost parameters in the entry, so
 * they can differ per device and be raised later. The secret itself is never
 * stored, logged or put in an error message: `add()` returns it once, for the
 * operator to copy to the device.
 *
 * Cost: a secret weir generates has 256 random bits, which no KDF cost makes
 * any harder to guess, so generated secrets are hashed with N = 2^10 (≈2.5 ms
 * on one x86 core; a reconnect storm of 10,000 devices costs ≈25 s of CPU
 * once, then verified secrets are cached, see DeviceAuthenticator). A secret
 * the operator chooses may be weak, so it gets N = 2^14 (≈40 ms, 16 MiB).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { MqttIngestError } from './mqtt-errors.ts';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. Memory used is 128 · N · r bytes. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** For secrets weir generates (256 random bits). */
export const GENERATED_SECRET_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 };
/** For secrets an operator supplies (may be low-entropy). */
export const SUPPLIED_SECRET_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PREFIX = 'scrypt';

export interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** A device id must be usable as an MQTT username, client id and topic level. */
export function checkDeviceId(id: string): string | null {
  if (id.length === 0 || id.length > 128) return 'must be 1 to 128 characters';
  // [MQTT-4.7.1-1] wildcards and the level separator cannot be part of one topic level; NUL is banned [MQTT-4.7.3-2].
  if (/[/+#\u0000-\u001f\u007f]/.test(id)) return 'must not contain /, +, #, or control characters';
  return null;
}

function assertDeviceId(id: string): void {
  const why = checkDeviceId(id);
  if (why !== null) throw new MqttIngestError('E_MQTT_DEVICE_ID', `device id ${JSON.stringify(id.slice(0, 140))} ${why}`);
}

/** A new device secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

function derive(secret: Uint8Array | string, salt: Buffer, keyLen: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: what this N and r need, plus slack (Node's default cap is 32 MiB).
    scrypt(secret, salt, keyLen, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` for `secret`, with a fresh random salt. */
export async function hashSecret(secret: string, params: ScryptParams = SUPPLIED_SECRET_SCRYPT): Promise<string> {
  checkParams(params, 'params');
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, HASH_BYTES, params);
  return [PREFIX, params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

function checkParams(p: ScryptParams, where: string): void {
  const pow2 = Number.isInteger(p.N) && p.N >= 2 && p.N <= 2 ** 20 && (p.N & (p.N - 1)) === 0;
  if (!pow2 || !Number.isInteger(p.r) || p.r < 1 || p.r > 32 || !Number.isInteger(p.p) || p.p < 1 || p.p > 16) {
    throw new MqttIngestError('E_MQTT_CREDENTIALS', `${where}: scrypt parameters out of bounds (N a power of two in [2, 2^20], r in [1, 32], p in [1, 16])`);
  }
}

/** Parses a stored entry; `where` names it in errors (never the entry's text). */
export function parseHash(encoded: string, where: string): ParsedHash {
  const parts = typeof encoded === 'string' ? encoded.split('$') : [];
  if (parts.length !== 6 || parts[0] !== PREFIX) {
    throw new MqttIngestError('E_MQTT_CREDENTIALS', `${where}: not an scrypt$N$r$p$salt$hash entry`);
  }
  const [, n, r, p, salt, hash] = parts;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  checkParams(params, where);
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length < 8 || hashBytes.length < 16 || hashBytes.length > 64) {
    throw new MqttIngestError('E_MQTT_CREDENTIALS', `${where}: salt or hash has the wrong length`);
  }
  return { params, salt: saltBytes, hash: hashBytes };
}

/** Checks `secret` against a parsed entry in constant time (for a given hash length). */
export async function verifySecret(secret: Uint8Array | string, entry: ParsedHash): Promise<boolean> {
  const got = await derive(secret, entry.salt, entry.hash.length, entry.params);
  return timingSafeEqual(got, entry.hash);
}

/**
 * The credentials file: load, look up, add, remove, save (atomically, mode
 * 0600). Not safe against two processes editing the same file at once (the
 * later save wins); the CLI edits it while the gateway only reads it.
 */
export class CredentialsFile {
  private readonly entries: Map<string, string>;

  private constructor(readonly path: string, entries: Map<string, string>) {
    this.entries = entries;
  }

  /** Reads and checks the file. A missing file is an error unless `createIfMissing`. */
  static load(path: string, opts: { createIfMissing?: boolean } = {}): CredentialsFile {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && opts.createIfMissing === true) return new CredentialsFile(path, new Map());
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `cannot read credentials file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // No cause: a JSON syntax error quotes the text around it, which may be a hash.
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `credentials file ${path} is not valid JSON`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `credentials file ${path} must hold one JSON object { deviceId: "scrypt$..." }`);
    }
    const entries = new Map<string, string>();
    for (const [id, v] of Object.entries(data)) {
      assertDeviceId(id);
      if (typeof v !== 'string') throw new MqttIngestError('E_MQTT_CREDENTIALS', `${path}: entry of device ${id} is not a string`);
      parseHash(v, `${path}: entry of device ${id}`);
      entries.set(id, v);
    }
    return new CredentialsFile(path, entries);
  }

  get size(): number {
    return this.entries.size;
  }

  ids(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The stored hash entry of a device (opaque; never log it). */
  get(deviceId: string): string | undefined {
    return this.entries.get(deviceId);
  }

  has(deviceId: string): boolean {
    return this.entries.has(deviceId);
  }

  /**
   * Adds a device and returns its secret (generated unless given). Refuses an
   * existing id unless `replace`. Call save() to write the file.
   */
  async add(deviceId: string, opts: { secret?: string; replace?: boolean; params?: ScryptParams } = {}): Promise<string> {
    assertDeviceId(deviceId);
    if (this.entries.has(deviceId) && opts.replace !== true) {
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `device ${deviceId} already has credentials (use replace to rotate them)`);
    }
    if (opts.secret !== undefined && opts.secret.length < 8) {
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `the secret for device ${deviceId} is shorter than 8 characters`);
    }
    const secret = opts.secret ?? generateSecret();
    const params = opts.params ?? (opts.secret === undefined ? GENERATED_SECRET_SCRYPT : SUPPLIED_SECRET_SCRYPT);
    this.entries.set(deviceId, await hashSecret(secret, params));
    return secret;
  }

  remove(deviceId: string): boolean {
    return this.entries.delete(deviceId);
  }

  /** Writes the file atomically (temporary file, fsync, rename), readable by the owner only. */
  save(): void {
    const obj: Record<string, string> = {};
    for (const id of this.ids()) obj[id] = this.entries.get(id)!;
    const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(obj, null, 2) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw new MqttIngestError('E_MQTT_CREDENTIALS', `cannot write credentials file ${this.path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
    }
  }
}
