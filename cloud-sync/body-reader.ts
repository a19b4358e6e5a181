import { inflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { WireError } from './protocol.ts';
import type { Timer } from './clock.ts';

const inflateAsync = promisify(inflate);

export interface BodyLimits {
  /** Compressed bytes, at most (checked against Content-Length first, then while reading). */
  readonly maxBytes: number;
  readonly maxInflatedBytes: number;
  /** The whole body must arrive within this (a stalled or trickling client is cut off). */
  readonly timeoutMs: number;
}

/**
 * Reads a request body into memory, never more than `maxBytes`: a
 * Content-Length over the limit is refused before reading, and the count
 * is checked chunk by chunk (chunked bodies, lying lengths). A body that
 * does not complete within `timeoutMs` is E_BODY_TIMEOUT. On failure the
 * stream is paused and detached, not destroyed, so the caller can still
 * answer on the connection and then close it.
 */
export function readBody(body: Readable, contentLength: string | string[] | undefined, limits: BodyLimits, timer: Timer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (contentLength !== undefined) {
      const n = typeof contentLength === 'string' && /^\d{1,15}$/.test(contentLength) ? Number(contentLength) : Number.NaN;
      if (Number.isNaN(n)) return reject(new WireError('E_MALFORMED', 'Content-Length is not a number'));
      if (n > limits.maxBytes) return reject(new WireError('E_TOO_LARGE', `body of ${n} bytes; at most ${limits.maxBytes}`));
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (err: WireError | null): void => {
      if (settled) return;
      settled = true;
      timer.clear(handle);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (err !== null) {
        body.pause();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks, total));
      }
    };
    const onData = (c: Buffer | string): void => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      total += b.byteLength;
      if (total > limits.maxBytes) return finish(new WireError('E_TOO_LARGE', `body passed ${limits.maxBytes} bytes`));
      chunks.push(b);
    };
    const onEnd = (): void => finish(null);
    const onError = (e: Error): void => finish(new WireError('E_MALFORMED', `request body failed: ${e.message}`, { cause: e }));
    const onClose = (): void => finish(new WireError('E_MALFORMED', 'request body ended before it was complete'));
    const handle = timer.set(() => finish(new WireError('E_BODY_TIMEOUT', `body not received within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
    body.resume();
  });
}

/**
 * Inflates (zlib format) off the event loop, refusing output past `maxInflatedBytes` (a decompression bomb).
 * Output chunks are sized for the body (batches inflate about sevenfold): with zlib's default of 16 KiB a
 * batch took a hundred round trips between the thread pool and the event loop, and asynchronous inflating
 * cost about twice the CPU of inflating.
 */
export async function inflateLimited(raw: Uint8Array, maxInflatedBytes: number): Promise<Buffer> {
  const chunkSize = Math.min(Math.max(maxInflatedBytes, 64), Math.max(64 * 1024, raw.byteLength * 8));
  try {
    return await inflateAsync(raw, { maxOutputLength: maxInflatedBytes, chunkSize });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new WireError('E_TOO_LARGE', `body inflates past ${maxInflatedBytes} bytes`, { cause: e });
    }
    throw new WireError('E_BAD_DEFLATE', `body does not inflate: ${(e as Error).message}`, { cause: e });
  }
}
