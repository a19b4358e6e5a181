/**
 * A small Prometheus registry: counters and gauges with labels, read at scrape
 * time from the components that own the figures (collectors), rendered in the
 * text exposition format 0.0.4. Written by hand because it is ~100 lines and
 * the well-known client (prom-client) brings its own default metrics and a
 * cluster aggregator we do not want on a small board.
 */
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly Sample[];
}

/** A collector returns families at scrape time; it may be async (e.g. asks the store). */
export type Collector = () => MetricFamily[] | Promise<MetricFamily[]>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function render(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new TypeError(`bad metric name ${f.name}`);
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const ls = Object.entries(s.labels ?? {});
      for (const [k] of ls) if (!LABEL.test(k)) throw new TypeError(`bad label name ${k}`);
      const l = ls.length === 0 ? '' : `{${ls.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
      out.push(`${f.name}${l} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

export class Registry {
  private readonly collectors: Collector[] = [];

  register(c: Collector): void {
    this.collectors.push(c);
  }

  async collect(): Promise<MetricFamily[]> {
    const all: MetricFamily[] = [];
    for (const c of this.collectors) all.push(...(await c()));
    return all;
  }

  async text(): Promise<string> {
    return render(await this.collect());
  }
}

/** Helpers to keep collectors short. */
export const counter = (name: string, help: string, samples: Sample[] | number): MetricFamily => ({
  name, help, type: 'counter', samples: typeof samples === 'number' ? [{ value: samples }] : samples,
});
export const gauge = (name: string, help: string, samples: Sample[] | number): MetricFamily => ({
  name, help, type: 'gauge', samples: typeof samples === 'number' ? [{ value: samples }] : samples,
});
