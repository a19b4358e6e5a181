/**
 * A deliberately naive reference for the engine: recomputes everything from
 * the full history with plain loops and sorts. Slow (quadratic) and obviously
 * right; property tests compare the streaming engine against it.
 */
import type { Reading, SourceRecord } from '../../edge-runtime/engine/types.ts';
import type { WatermarkSpec } from '../../edge-runtime/engine/watermark-generator.ts';
import type { WindowPlan } from '../../edge-runtime/pipeline/plan.ts';

export interface OracleWindow {
  key: string;
  start: number;
  end: number;
  index?: number;
  readings: Reading[];
}

export interface OracleLate {
  reading: Reading;
  missed: number;
}

export interface OracleResult {
  windows: OracleWindow[];
  late: OracleLate[];
}

interface InputState {
  maxT: number;
  lastActive: number;
  seq: number;
}

/** The watermark in effect when each reading is classified (index-aligned with readings). */
export function effectiveWatermarks(records: readonly SourceRecord[], spec: WatermarkSpec): number[] {
  const inputs = new Map<string, InputState>();
  let proc = -Infinity;
  let wm = -Infinity;
  let seq = 0;
  const idle = spec.idleTimeoutMs > 0 ? spec.idleTimeoutMs : Infinity;
  const combined = (): number => {
    if (inputs.size === 0) return -Infinity;
    let min = Infinity;
    let active = 0;
    let last: InputState | null = null;
    for (const s of inputs.values()) {
      if (s.lastActive + idle > proc) {
        active++;
        min = Math.min(min, s.maxT - spec.maxOutOfOrderMs);
      }
      if (last === null || s.lastActive > last.lastActive || (s.lastActive === last.lastActive && s.seq > last.seq)) last = s;
    }
    if (active > 0) return min;
    return last!.maxT + (proc - last!.lastActive) - spec.maxOutOfOrderMs;
  };
  const out: number[] = [];
  for (const rec of records) {
    if (rec.type === 'tick') {
      proc = Math.max(proc, rec.processingTime);
      wm = Math.max(wm, combined());
      continue;
    }
    const r = rec.reading;
    proc = Math.max(proc, r.arrivalTime);
    wm = Math.max(wm, combined());
    out.push(wm);
    const id = spec.per === 'device' ? r.deviceId : '';
    const s = inputs.get(id);
    if (s === undefined) inputs.set(id, { maxT: r.eventTime, lastActive: proc, seq: seq++ });
    else {
      s.maxT = Math.max(s.maxT, r.eventTime);
      s.lastActive = proc;
      s.seq = seq++;
    }
    wm = Math.max(wm, combined());
  }
  return out;
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

export function oracle(records: readonly SourceRecord[], spec: WatermarkSpec, win: WindowPlan, keyOf: (r: Reading) => string): OracleResult {
  const readings = records.filter((r): r is { type: 'reading'; reading: Reading } => r.type === 'reading').map((r) => r.reading);
  const wms = effectiveWatermarks(records, spec);
  switch (win.type) {
    case 'tumbling':
    case 'hopping': {
      const size = win.sizeMs;
      const slide = win.type === 'tumbling' ? win.sizeMs : win.slideMs;
      const L = win.allowedLatenessMs;
      const windows = new Map<string, OracleWindow>();
      const late: OracleLate[] = [];
      readings.forEach((r, i) => {
        const E = wms[i]!;
        const key = keyOf(r);
        let missed = 0;
        // Every aligned start s with s <= t < s + size.
        for (let s = r.eventTime - mod(r.eventTime - win.offsetMs, slide); s > r.eventTime - size; s -= slide) {
          if (E >= s + size + L) {
            missed++;
            continue;
          }
          const id = `${key}|${s}`;
          let w = windows.get(id);
          if (!w) windows.set(id, (w = { key, start: s, end: s + size, readings: [] }));
          w.readings.push(r);
        }
        if (missed > 0) late.push({ reading: r, missed });
      });
      return { windows: [...windows.values()], late };
    }
    case 'session': {
      if (win.maxDurationMs !== null) throw new Error('oracle: sessions with maxDuration are order-dependent; not modelled');
      const gap = win.gapMs;
      const L = win.allowedLatenessMs;
      const live = new Map<string, Reading[][]>();
      const done: OracleWindow[] = [];
      const late: OracleLate[] = [];
      const span = (g: Reading[]): [number, number] => [Math.min(...g.map((x) => x.eventTime)), Math.max(...g.map((x) => x.eventTime)) + gap];
      const close = (E: number): void => {
        for (const [key, groups] of live) {
          const keep: Reading[][] = [];
          for (const g of groups) {
            const [s, e] = span(g);
            if (e + L <= E) done.push({ key, start: s, end: e, readings: g });
            else keep.push(g);
          }
          live.set(key, keep);
        }
      };
      readings.forEach((r, i) => {
        const E = wms[i]!;
        close(E);
        const key = keyOf(r);
        const groups = live.get(key) ?? [];
        const t = r.eventTime;
        const overlapping = groups.filter((g) => {
          const [s, e] = span(g);
          return t < e && s < t + gap;
        });
        if (overlapping.length === 0 && t + gap + L <= E) {
          late.push({ reading: r, missed: 1 });
          return;
        }
        const merged = [...overlapping.flat(), r];
        live.set(key, [...groups.filter((g) => !overlapping.includes(g)), merged]);
      });
      close(Infinity);
      return { windows: done, late };
    }
    case 'count': {
      const open = new Map<string, { index: number; rs: Reading[] }>();
      const windows: OracleWindow[] = [];
      const emit = (key: string, o: { index: number; rs: Reading[] }): void => {
        const ts = o.rs.map((x) => x.eventTime);
        windows.push({ key, start: Math.min(...ts), end: Math.max(...ts) + 1, index: o.index, readings: o.rs });
      };
      for (const r of readings) {
        const key = keyOf(r);
        let o = open.get(key);
        if (!o) open.set(key, (o = { index: 0, rs: [] }));
        o.rs.push(r);
        if (o.rs.length === win.size) {
          emit(key, o);
          open.set(key, { index: o.index + 1, rs: [] });
        }
      }
      for (const [key, o] of open) if (o.rs.length > 0) emit(key, o);
      return { windows, late: [] };
    }
  }
}

/** Batch aggregates of a window's readings, by the documented definitions. */
export function batchAggregates(rs: readonly Reading[]): Record<string, number | null> {
  const n = rs.length;
  const vs = rs.map((r) => r.value);
  const sum = vs.reduce((a, b) => a + b, 0);
  const mean = sum / n;
  const variance = vs.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  // first: smallest event time, earliest arrival among ties; last: largest, latest arrival among ties.
  let first = rs[0]!;
  let last = rs[0]!;
  for (const r of rs) {
    if (r.eventTime < first.eventTime) first = r;
    if (r.eventTime >= last.eventTime) last = r;
  }
  return { count: n, sum, min: Math.min(...vs), max: Math.max(...vs), mean, variance, first: first.value, last: last.value };
}
