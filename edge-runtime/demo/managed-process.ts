import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { entryFor, type Program } from './entries.ts';
import { DemoError } from './demo-errors.ts';

/**
 * One child program (weir run, weir-cloud serve, weir-sim) under the
 * stack's control: started with this Node (entries.ts), its stdout and
 * stderr split into lines — JSON log lines parsed — kept in memory (the
 * last `historyLines`) and appended to a log file, waitable, killable with
 * any signal, restartable with the same arguments (`args()` is read again
 * at each start, so a port learned at the first start is kept).
 *
 * Children run in their own process group: a Ctrl-C in the terminal
 * reaches only the parent, which stops them in order; SIGKILL goes to the
 * whole group (the simulator's libcoap servers too). Every running child is
 * SIGKILLed when the parent process exits, and a child whose parent died
 * anyway stops itself (the watchdog in entries.ts).
 */
export interface LogLine {
  /** Position in this process's output, across restarts (1, 2, ...). */
  readonly n: number;
  readonly at: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** The parsed object when the line is a JSON log line. */
  readonly json: Readonly<Record<string, unknown>> | null;
  /** json.msg, for convenience. */
  readonly msg: string | null;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ProcessSpec {
  readonly name: string;
  readonly program: Program;
  /** The program's arguments, read at every (re)start. */
  readonly args: () => readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Appended to across restarts. */
  readonly logFile: string;
  /** Start is complete when a line matches (default: at once). */
  readonly ready?: (l: LogLine) => boolean;
  readonly readyTimeoutMs?: number;
  readonly historyLines?: number;
}

export interface WaitOptions {
  /** Only lines after this mark (`mark()`); default: since the current incarnation started. */
  readonly after?: number;
  readonly timeoutMs?: number;
  /** Reject when the process exits before a match (default true). */
  readonly failOnExit?: boolean;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.killGroup('SIGKILL');
  });
}


export class ManagedProcess {
  private child: ChildProcess | null = null;
  private readonly history: LogLine[] = [];
  private readonly listeners = new Set<(l: LogLine) => void>();
  private readonly exitListeners = new Set<(e: Exit) => void>();
  private lineNo = 0;
  private startedAtLine = 0;
  private log: WriteStream | null = null;
  private exitedP: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private lastExit: Exit | null = null;
  /** Every pid this handle has had (restarts give new ones). */
  readonly pids: number[] = [];
  restarts = 0;
  /** Ports the process reported (filled in by its owner, e.g. the Stack). */
  ports: Readonly<Record<string, number | readonly number[]>> = {};

  constructor(readonly spec: ProcessSpec) {}

  get name(): string {
    return this.spec.name;
  }

  /** The current child's pid (0 before the first start). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Settles when the current incarnation exits (never rejects). */
  get exited(): Promise<Exit> {
    return this.exitedP;
  }

  get exitStatus(): Exit | null {
    return this.lastExit;
  }

  /** Lines kept in memory (the newest `historyLines`). */
  get lines(): readonly LogLine[] {
    return this.history;
  }

  /** The current line number: pass it as `after` to wait only for what comes next. */
  mark(): number {
    return this.lineNo;
  }

  onLine(fn: (l: LogLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onExit(fn: (e: Exit) => void): () => void {
    this.exitListeners.add(fn);
    return () => this.exitListeners.delete(fn);
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    installExitHook();
    this.log ??= createWriteStream(this.spec.logFile, { flags: 'a', mode: 0o600 });
    const e = entryFor(this.spec.program);
    const own = this.spec.args();
    const args = [...e.args, ...own];
    this.startedAtLine = this.lineNo;
    const child = spawn(e.command, args, {
      cwd: this.spec.cwd,
      env: this.spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: see the class comment
    });
    this.child = child;
    this.lastExit = null;
    live.add(this);
    this.write(`--- ${new Date().toISOString()} start ${this.spec.program} ${own.join(' ')}\n`);
    this.exitedP = new Promise<Exit>((resolve) => {
      let streamsOpen = 2;
      let exit: Exit | null = null;
      let settled = false;
      // Settles after the exit and both streams' end, so every line is in before `exited` resolves.
      const settle = (): void => {
        if (settled || exit === null || streamsOpen > 0) return;
        settled = true;
        live.delete(this);
        this.lastExit = exit;
        this.write(`--- ${new Date().toISOString()} exit code=${exit.code} signal=${exit.signal}\n`);
        for (const l of [...this.exitListeners]) l(exit);
        resolve(exit);
      };
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        settle();
      });
      child.once('error', (err) => {
        // spawn failed: no 'exit' will come
        this.write(`--- spawn failed: ${err.message}\n`);
        exit ??= { code: null, signal: null };
        settle();
      });
      for (const [s, name] of [[child.stdout!, 'stdout'], [child.stderr!, 'stderr']] as const) {
        createInterface({ input: s, crlfDelay: Infinity }).on('line', (t) => this.push(name, t)).once('close', () => {
          streamsOpen--;
          settle();
        });
      }
    });
    if (child.pid !== undefined) this.pids.push(child.pid);
    if (this.spec.ready !== undefined) {
      await this.waitFor(this.spec.ready, { timeoutMs: this.spec.readyTimeoutMs ?? 60_000 });
    }
  }

  private write(t: string): void {
    this.log?.write(t);
  }

  private push(stream: 'stdout' | 'stderr', text: string): void {
    let json: Record<string, unknown> | null = null;
    if (text.startsWith('{')) {
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) json = v as Record<string, unknown>;
      } catch {
        // not JSON after all: kept as text
      }
    }
    const line: LogLine = { n: ++this.lineNo, at: Date.now(), stream, text, json, msg: typeof json?.msg === 'string' ? json.msg : null };
    this.history.push(line);
    const max = this.spec.historyLines ?? 5000;
    if (this.history.length > max) this.history.splice(0, this.history.length - max);
    this.write(`${text}\n`);
    for (const l of [...this.listeners]) l(line);
  }

  /**
   * The first line (after `after`, default: since this incarnation started)
   * that matches. Rejects on timeout, or when the process exits first,
   * with the last lines in the message so a failure explains itself.
   */
  waitFor(pred: (l: LogLine) => boolean, o: WaitOptions = {}): Promise<LogLine> {
    const after = o.after ?? this.startedAtLine;
    const seen = this.history.find((l) => l.n > after && pred(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const finish = (): void => {
        offLine();
        offExit();
        if (timer !== null) clearTimeout(timer);
      };
      const offLine = this.onLine((l) => {
        if (l.n > after && pred(l)) {
          finish();
          resolve(l);
        }
      });
      const fail = (why: string): void => {
        finish();
        reject(new DemoError(why.startsWith('no matching') ? 'E_DEMO_TIMEOUT' : 'E_DEMO_CHILD_EXITED', `${this.name}: ${why}; last lines (full log: ${this.spec.logFile}):\n${this.tail(15)}`));
      };
      const offExit = (o.failOnExit ?? true) ? this.onExit((e) => fail(`exited (code ${e.code}, signal ${e.signal}) before the awaited line`)) : () => undefined;
      if ((o.failOnExit ?? true) && !this.running && this.child !== null) fail('is not running');
      else if (o.timeoutMs !== undefined) timer = setTimeout(() => fail(`no matching line within ${o.timeoutMs} ms`), o.timeoutMs);
    });
  }

  tail(n: number): string {
    return this.history.slice(-n).map((l) => `  ${l.text}`).join('\n');
  }

  /** Sends `signal` to the process (SIGKILL: to its whole group). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running) return;
    if (signal === 'SIGKILL') this.killGroup('SIGKILL');
    else this.child!.kill(signal);
  }

  /** Signal to the process group (the child and anything it started). */
  killGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL to the group after `graceMs`. Resolves with how it exited. */
  async stop(o: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<Exit> {
    if (this.child === null) return { code: null, signal: null };
    if (this.running) {
      this.kill(o.signal ?? 'SIGTERM');
      const timer = setTimeout(() => this.killGroup('SIGKILL'), o.graceMs ?? 20_000);
      const e = await this.exitedP;
      clearTimeout(timer);
      this.killGroup('SIGKILL'); // anything the child left behind in its group
      return e;
    }
    const e = await this.exitedP;
    this.killGroup('SIGKILL');
    return e;
  }

  /** Stops (gracefully unless told otherwise) and starts again with the same arguments. */
  async restart(o: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
    await this.stop(o);
    this.restarts++;
    await this.start();
  }

  /** Closes the log file (after the process exited). */
  async close(): Promise<void> {
    const log = this.log;
    this.log = null;
    if (log !== null) await new Promise<void>((resolve) => log.end(() => resolve()));
  }
}
