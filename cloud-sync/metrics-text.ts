/**
 * Metric families rendered in the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). The same
 * shapes and rendering as edge-runtime/metrics/registry.ts, restated here
 * because cloud-sync never imports edge-runtime/ (DESIGN "Dependency
 * direction"); ~60 lines are cheaper than a shared package.
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

/** The Content-Type of a text exposition. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

// Exposition format: in label values `\`, `"` and line feed are escaped; in HELP only `\` and line feed.
const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function render(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new TypeError(`bad metric name ${f.name}`);
    // A family appears once (the format requires all its samples in one group).
    if (seen.has(f.name)) throw new TypeError(`metric ${f.name} rendered twice`);
    seen.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const ls = Object.entries(s.labels ?? {});
      for (const [k] of ls) if (!LABEL.test(k) || k.startsWith('__')) throw new TypeError(`bad label name ${k}`);
      const l = ls.length === 0 ? '' : `{${ls.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
      out.push(`${f.name}${l} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

/** Helpers to keep collectors short. */
export const counter = (name: string, help: string, samples: readonly Sample[] | number): MetricFamily => ({
  name, help, type: 'counter', samples: typeof samples === 'number' ? [{ value: samples }] : samples,
});
export const gauge = (name: string, help: string, samples: readonly Sample[] | number): MetricFamily => ({
  name, help, type: 'gauge', samples: typeof samples === 'number' ? [{ value: samples }] : samples,
});
