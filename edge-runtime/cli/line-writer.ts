import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { WeirError } from '../errors.ts';

/**
 * Writes lines to stdout or a file in chunks, with backpressure, and turns any
 * write failure (EPIPE from a closed pipe, ENOSPC on a full disk, a bad path)
 * into a WeirError E_IO instead of an unhandled stream error.
 */
export class LineWriter {
  private buf: string[] = [];
  private failed: Error | null = null;
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly out: Writable, private readonly name: string, private readonly owned: boolean) {
    out.on('error', (e: Error) => {
      this.failed ??= e;
    });
  }

  static stdout(): LineWriter {
    return new LineWriter(process.stdout, 'stdout', false);
  }

  /** Opens the file before any work, so a bad path fails fast. */
  static async file(path: string): Promise<LineWriter> {
    const s = createWriteStream(path);
    try {
      await once(s, 'open');
    } catch (e) {
      throw new WeirError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
    }
    return new LineWriter(s, path, true);
  }

  line(text: string): void {
    this.check();
    this.buf.push(text);
    if (this.buf.length >= 512) this.flush();
  }

  /** Resolves once everything written so far reached the stream; throws E_IO if the stream failed. */
  async close(): Promise<void> {
    this.flush();
    await this.chain;
    if (this.owned && !this.failed) {
      this.out.end();
      await Promise.race([once(this.out, 'finish'), once(this.out, 'error')]).catch(() => undefined);
    }
    this.check();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    const chunk = this.buf.join('\n') + '\n';
    this.buf = [];
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      if (!this.out.write(chunk)) {
        await Promise.race([once(this.out, 'drain'), once(this.out, 'error')]).catch(() => undefined);
      }
    });
  }

  private check(): void {
    if (this.failed) throw new WeirError('E_IO', `cannot write ${this.name}: ${this.failed.message}`, { cause: this.failed });
  }
}
