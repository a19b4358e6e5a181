/**
 * Checks for config file fields, shared by the gateway config and the
 * service sections it hands on (mqtt, coap, cloud, ...): each one throws a
 * ConfigError naming the field, so a bad file stops start-up with a message
 * that says where.
 */
import { ConfigError } from '../errors.ts';

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function obj(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new ConfigError(field, `expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}

/** Refuses settings not in `keys` (a typo must not be silently ignored). */
export function only(o: Obj, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new ConfigError(field ? `${field}.${k}` : k, `unknown setting (expected one of: ${keys.join(', ')})`);
}

export function port(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new ConfigError(field, `expected a port number 0-65535, got ${JSON.stringify(v)}`);
  return v;
}

/** A non-empty string, optionally matching `re` (`what` describes it in the message). */
export function str(v: unknown, field: string, re?: RegExp, what?: string): string {
  if (typeof v !== 'string' || v === '' || (re && !re.test(v))) throw new ConfigError(field, `expected ${what ?? 'a non-empty string'}, got ${JSON.stringify(v)}`);
  return v;
}
