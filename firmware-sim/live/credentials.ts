/**
 * Resolves a profile's credentials reference (`env:NAME` or `file:PATH`) to the
 * secret. A missing secret means "connect without", so a fleet runs against an
 * open test broker without setting anything up.
 */
import { readFileSync } from 'node:fs';
import { SimError } from '../core/sim-error.ts';

export function resolveSecret(ref: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (ref.startsWith('env:')) return env[ref.slice(4)] || undefined;
  if (ref.startsWith('file:')) {
    try {
      return readFileSync(ref.slice(5), 'utf8').trim();
    } catch (e) {
      throw new SimError('E_SIM_CONFIG', `credentials file ${ref.slice(5)} cannot be read`, { cause: e });
    }
  }
  throw new SimError('E_SIM_CONFIG', `unknown credentials reference ${ref}`);
}

/** Username / PSK identity from its template (default: the device id). */
export function resolveIdentity(template: string | undefined, deviceId: string): string {
  return (template ?? '{deviceId}').replaceAll('{deviceId}', deviceId);
}
