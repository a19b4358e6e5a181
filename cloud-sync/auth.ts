import { createHash, randomBytes } from 'node:crypto';

/**
 * Gateway and reader credentials: a bearer token of 256 random bits,
 * `weir_` + 43 base64url characters, shown once when created and stored
 * only as its SHA-256.
 *
 * Why SHA-256 and not scrypt: a slow hash protects low-entropy secrets
 * (passwords) against guessing after a database leak. These tokens are 256
 * random bits; no guessing is possible at any hash speed, so a slow hash
 * buys nothing, while a plain digest lets the service find the credential
 * with one primary-key lookup per request (scrypt would need a per-token
 * salt and so a token id to find the row, and would cost ~50 ms of CPU per
 * request). Lookup by digest also means no secret is ever compared in
 * non-constant time.
 */
export const TOKEN_PATTERN = /^weir_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return `weir_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or null when absent or not a weir token. */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (m === null || !TOKEN_PATTERN.test(m[1]!)) return null;
  return m[1]!;
}
