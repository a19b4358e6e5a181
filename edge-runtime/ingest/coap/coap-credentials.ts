/**
 * DTLS PSK credentials of a device, from its profile's credentials reference
 * (`env:NAME` or `file:PATH`, devices/profile.ts). Resolved at every
 * connection attempt, so a rotated key file is picked up without a restart.
 * The key never leaves this module except into the DTLS layer: not logged,
 * not in status, not in errors.
 */
import { readFileSync } from 'node:fs';
import type { DeviceProfile } from '../../../devices/index.ts';
import { CoapIngestError } from './coap-errors.ts';

export interface SecretSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

export const processSecrets: SecretSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
};

export interface PskCredentials {
  readonly identity: string;
  readonly key: string;
}

/** PSK identity and key for `deviceId`; throws E_COAP_CREDENTIALS (naming the reference, never the key). */
export function resolvePsk(profile: DeviceProfile, deviceId: string, sources: SecretSources): PskCredentials {
  const creds = profile.credentials;
  if (creds === undefined) {
    throw new CoapIngestError('E_COAP_CREDENTIALS', deviceId, `profile ${profile.name} uses DTLS but has no credentials reference`);
  }
  const identity = (creds.identity ?? '{deviceId}').replaceAll('{deviceId}', deviceId);
  const ref = creds.secret;
  let key: string | undefined;
  if (ref.startsWith('env:')) {
    key = sources.env[ref.slice(4)];
  } else if (ref.startsWith('file:')) {
    try {
      key = sources.readFile(ref.slice(5)).trim();
    } catch (e) {
      throw new CoapIngestError('E_COAP_CREDENTIALS', deviceId, `credentials file ${ref.slice(5)} cannot be read`, { cause: e });
    }
  } else {
    throw new CoapIngestError('E_COAP_CREDENTIALS', deviceId, `unknown credentials reference ${ref}`);
  }
  if (key === undefined || key === '') {
    throw new CoapIngestError('E_COAP_CREDENTIALS', deviceId, `credentials reference ${ref} is empty or not set`);
  }
  return { identity, key };
}
