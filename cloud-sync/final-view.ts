import type { WindowPayload } from './payloads.ts';

/**
 * The final view of window results: what a reader should see once every
 * correction, retraction and downsampling the gateway sent is applied.
 * Pure. Within one gateway and series (pipeline + key):
 *
 * 1. Versions: of the results with one identity (start, end, count-window
 *    index) the highest version wins; equal versions: the later seq.
 * 2. Retractions: a session result lists earlier emitted windows it
 *    replaces (`retracts`); those identities go, up to the listed version,
 *    if they came before it (lower seq).
 * 3. Merged windows: a result with `merged` (the outbox's downsampling,
 *    edge-runtime/state/window-merge.ts) covers exactly the adjacent
 *    windows it replaced, so it removes every other result of its series
 *    lying inside its [start, end) — including smaller merged ones.
 *
 * Then only results overlapping [from, to) are kept, ordered by gateway,
 * series, start and end.
 */
export interface WindowRow {
  readonly gateway: string;
  readonly seq: number;
  readonly series: string;
  readonly replayed: boolean;
  readonly receivedAtMs: number;
  readonly deviceId: string | null;
  readonly metric: string | null;
  readonly window: WindowPayload;
}

export interface ResultView {
  readonly gateway: string;
  readonly seq: number;
  readonly series: string;
  readonly pipeline: string;
  readonly key: Readonly<Record<string, string>>;
  readonly deviceId: string | null;
  readonly metric: string | null;
  readonly start: number;
  readonly end: number;
  readonly version: number;
  readonly count: number;
  readonly values: Readonly<Record<string, number | null>>;
  readonly index?: number;
  readonly partial?: boolean;
  readonly merged?: { readonly windows: number; readonly inexact: readonly string[] };
  readonly replayed: boolean;
  readonly receivedAtMs: number;
}

const identity = (w: WindowPayload): string => `${w.start}|${w.end}|${w.index ?? ''}`;

export function finalView(rows: readonly WindowRow[], from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): ResultView[] {
  const groups = new Map<string, WindowRow[]>();
  for (const r of rows) {
    const k = `${r.gateway}\u0000${r.series}`;
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = []));
    g.push(r);
  }
  const out: ResultView[] = [];
  for (const group of groups.values()) {
    // 1. highest version per identity
    const best = new Map<string, WindowRow>();
    for (const r of group) {
      const id = identity(r.window);
      const cur = best.get(id);
      if (cur === undefined || r.window.version > cur.window.version || (r.window.version === cur.window.version && r.seq > cur.seq)) best.set(id, r);
    }
    let live = [...best.values()];
    // 2. retractions
    const retracted = new Set<WindowRow>();
    for (const r of live) {
      for (const x of r.window.retracts ?? []) {
        const target = best.get(`${x.start}|${x.end}|`);
        if (target !== undefined && target !== r && target.seq < r.seq && target.window.version <= x.version) retracted.add(target);
      }
    }
    live = live.filter((r) => !retracted.has(r));
    // 3. merged windows replace what lies inside them
    const merged = live.filter((r) => r.window.merged !== undefined);
    if (merged.length > 0) {
      live = live.filter((r) => !merged.some((m) => m !== r && r.window.start >= m.window.start && r.window.end <= m.window.end &&
        // of two merged rows over the same span (cannot happen from one outbox), keep the later
        !(r.window.start === m.window.start && r.window.end === m.window.end && r.seq > m.seq)));
    }
    for (const r of live) {
      if (r.window.end <= from || r.window.start >= to) continue;
      out.push(view(r));
    }
  }
  const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  return out.sort((a, b) => cmp(a.gateway, b.gateway) || cmp(a.series, b.series) || a.start - b.start || a.end - b.end || (a.index ?? 0) - (b.index ?? 0));
}

function view(r: WindowRow): ResultView {
  const w = r.window;
  return {
    gateway: r.gateway, seq: r.seq, series: r.series, pipeline: w.pipeline, key: w.key, deviceId: r.deviceId, metric: r.metric,
    start: w.start, end: w.end, version: w.version, count: w.count, values: w.values,
    ...(w.index !== undefined ? { index: w.index } : {}),
    ...(w.partial !== undefined ? { partial: w.partial } : {}),
    ...(w.merged !== undefined ? { merged: w.merged } : {}),
    replayed: r.replayed, receivedAtMs: r.receivedAtMs,
  };
}
