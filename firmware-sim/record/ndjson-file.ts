/** A buffered, synchronous line writer: record mode's output must be byte-exact, not fast-and-async. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { SimError } from '../core/sim-error.ts';

export interface LineSink {
  write(line: string): void;
  close(): void;
}

export class NdjsonFile implements LineSink {
  private fd: number;
  private chunks: string[] = [];
  private size = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new SimError('E_SIM_IO', `cannot open ${path} for writing`, { cause: e });
    }
  }

  write(line: string): void {
    this.chunks.push(line, '\n');
    this.size += line.length + 1;
    if (this.size >= 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.chunks.length === 0) return;
    try {
      writeSync(this.fd, this.chunks.join(''));
    } catch (e) {
      throw new SimError('E_SIM_IO', `cannot write ${this.path}`, { cause: e });
    }
    this.chunks = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Collects lines in memory (tests). */
export class MemoryLines implements LineSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  close(): void {}
}
