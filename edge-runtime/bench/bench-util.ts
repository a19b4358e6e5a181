/** Small helpers shared by the benchmarks: medians, GC, the final BENCH line. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('run with node --expose-gc');
  g();
  g();
}

export function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** V8 heap plus ArrayBuffer backing stores (typed arrays live there), after a full GC. */
export function heapAndBuffers(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Prints the one machine-readable line every benchmark ends with. */
export function benchLine(o: Record<string, unknown>): void {
  process.stdout.write(`BENCH ${JSON.stringify(o)}\n`);
}

export function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}
