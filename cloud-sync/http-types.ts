import type { Readable } from 'node:stream';
import type { Principal } from './storage/storage-types.ts';

/**
 * The service's view of HTTP, independent of node:http so that the whole
 * service can be driven in-process (app.inject) and over sockets alike.
 */
export interface AppRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/results?device=d1`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable;
}

export interface AppResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string;
  /** Close the connection after answering (the request body was not read to its end). */
  readonly close: boolean;
}

export interface RouteContext {
  readonly req: AppRequest;
  readonly query: URLSearchParams;
  readonly params: readonly string[];
  /** The authenticated caller, or null on routes that need none. */
  readonly principal: Principal | null;
  readonly nowMs: number;
}

export function json(status: number, value: unknown, extraHeaders: Record<string, string> = {}): AppResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...extraHeaders }, body: JSON.stringify(value), close: false };
}
