/**
 * Child processes of the ingest benchmarks: the process under test (prints
 * PORT, then STATS lines) and publishers (print SENT lines). Every child
 * exits when its stdin closes, so none outlives the bench.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
});

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) of a process, from /proc. */
export function cpuSec(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** VmRSS and VmHWM (peak) of a process, MB. */
export function rssOf(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** A bundled build of the target (plain node, no tsx): see bundleTarget(). */
let bundled: { target: string; worker: string } | null = null;

export function useBundle(b: { target: string; worker: string } | null): void {
  bundled = b;
}

/**
 * glibc malloc settings as weir's systemd unit (packaging/systemd/weir.service) sets them, for every
 * benchmark and footprint check that runs weir; test/package-x64.test.ts checks that the two agree.
 */
export const WEIR_MALLOC_ENV: Readonly<Record<'MALLOC_ARENA_MAX' | 'MALLOC_MMAP_THRESHOLD_', string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' };

/** Environment added to every child (default: WEIR_MALLOC_ENV, see useWeirMalloc). */
let childEnv: NodeJS.ProcessEnv = { ...WEIR_MALLOC_ENV };

/**
 * glibc malloc settings of the children, as weir's systemd unit sets them: `--malloc-arena-max`
 * (default 2) and `--malloc-mmap-threshold` (bytes, default 65536); 0 for glibc's default of either.
 * Returns them for the BENCH line (null = glibc's default).
 */
export function useWeirMalloc(opt: (name: string, def: string) => string): { mallocArenaMax: number | null; mallocMmapThreshold: number | null } {
  const arenas = opt('malloc-arena-max', WEIR_MALLOC_ENV.MALLOC_ARENA_MAX);
  const mmap = opt('malloc-mmap-threshold', WEIR_MALLOC_ENV.MALLOC_MMAP_THRESHOLD_);
  childEnv = { ...(arenas === '0' ? {} : { MALLOC_ARENA_MAX: arenas }), ...(mmap === '0' ? {} : { MALLOC_MMAP_THRESHOLD_: mmap }) };
  return { mallocArenaMax: arenas === '0' ? null : Number(arenas), mallocMmapThreshold: mmap === '0' ? null : Number(mmap) };
}

function start(script: string, args: string[], nodeArgs: string[] = []): ChildProcess {
  const argv = script === 'bench-target.ts' && bundled !== null
    ? [...nodeArgs, bundled.target, ...args, ...(args[0] === 'weir' ? ['--worker', bundled.worker] : [])]
    : [...nodeArgs, '--import', 'tsx', join(here, script), ...args];
  const c = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...childEnv } });
  live.add(c);
  c.on('exit', () => live.delete(c));
  return c;
}

export class Target {
  stats: Record<string, number> = {};
  final: Record<string, number | null> | null = null;
  private finalWaiters: (() => void)[] = [];
  private constructor(readonly proc: ChildProcess, readonly port: number) {}

  static async start(mode: 'raw' | 'weir', args: string[] = [], nodeArgs: string[] = []): Promise<Target> {
    const proc = start('bench-target.ts', [mode, ...args], nodeArgs);
    const lines = createInterface({ input: proc.stdout! });
    let target: Target | null = null;
    return new Promise((resolve, reject) => {
      proc.once('exit', (code) => target === null && reject(new Error(`bench target (${mode}) exited with ${code}`)));
      lines.on('line', (l) => {
        if (l.startsWith('PORT ')) {
          target = new Target(proc, Number(l.slice(5)));
          resolve(target);
        } else if (l.startsWith('STATS ') && target !== null) {
          target.stats = JSON.parse(l.slice(6)) as Record<string, number>;
        } else if (l.startsWith('FINAL ') && target !== null) {
          target.final = JSON.parse(l.slice(6)) as Record<string, number | null>;
          for (const w of target.finalWaiters.splice(0)) w();
        }
      });
    });
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  send(line: string): void {
    this.proc.stdin!.write(line + '\n');
  }

  /** Closes stdin; resolves with the FINAL line. */
  async stop(): Promise<Record<string, number | null>> {
    const got = new Promise<void>((r) => this.finalWaiters.push(r));
    this.proc.stdin!.end();
    await Promise.race([got, new Promise((r) => this.proc.once('exit', r))]);
    return this.final ?? {};
  }
}

export class Publisher {
  sent = 0;
  acked = 0;
  private constructor(readonly proc: ChildProcess) {}

  static start(args: string[]): Publisher {
    const proc = start('bench-publisher.ts', args);
    const p = new Publisher(proc);
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const m = /^SENT (\d+) (\d+)$/.exec(l);
      if (m !== null) {
        p.sent = Number(m[1]);
        p.acked = Number(m[2]);
      }
    });
    return p;
  }

  async stop(): Promise<void> {
    this.proc.stdin!.end();
    if (this.proc.exitCode === null) await new Promise((r) => this.proc.once('exit', r));
  }
}

/** `n` publishers splitting `devices` between them. */
export function publishers(n: number, url: string, devices: number, extra: string[]): Publisher[] {
  const per = Math.ceil(devices / n);
  return Array.from({ length: n }, (_, i) => Publisher.start(['--url', url, '--devices', String(Math.min(per, devices - i * per)), '--first', String(i * per), ...extra]));
}
