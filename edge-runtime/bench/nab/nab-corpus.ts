import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WeirError } from '../../errors.ts';

/** A cost matrix of one NAB profile (profiles.json). tnWeight is carried but unused by the rule. */
export interface CostMatrix {
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
  readonly tnWeight?: number;
}

export type Profiles = Readonly<Record<string, { readonly CostMatrix: CostMatrix }>>;

/** One labeled data file: values in row order, timestamps (ms, UTC) and windows as inclusive row ranges. */
export interface NabFile {
  /** `<category>/<file>.csv` as in combined_windows.json. */
  readonly key: string;
  readonly category: string;
  /** File name without the `.csv`. */
  readonly name: string;
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
  /** The original timestamp text of each row, for emitted result files. */
  readonly stamps: readonly string[];
  /** Inclusive [first, last] row ranges, sorted. */
  readonly windows: readonly (readonly [number, number])[];
}

export interface NabCorpus {
  readonly dir: string;
  readonly files: readonly NabFile[];
  readonly profiles: Profiles;
  readonly windowCount: number;
}

/**
 * NAB timestamps are `YYYY-MM-DD HH:MM:SS[.ffffff]` (or ISO with `T`/`Z`),
 * read as UTC. Returns ms since the epoch with the fraction kept.
 */
export function parseNabTime(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?$/.exec(text.trim());
  if (m === null) throw new WeirError('E_INPUT_PARSE', `not a NAB timestamp: ${JSON.stringify(text)}`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const frac = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  return ms + frac;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new WeirError('E_IO', `cannot read ${path}`, { cause: e });
  }
}

function firstExisting(dir: string, ...names: string[]): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  throw new WeirError('E_IO', `none of ${names.join(', ')} in ${dir}`);
}

/** Parses a NAB data CSV (`timestamp,value` header). */
export function parseNabCsv(text: string, path: string): { stamps: string[]; timestamps: Float64Array; values: Float64Array } {
  const lines = text.split(/\r?\n/);
  const stamps: string[] = [];
  const vals: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const comma = line.indexOf(',');
    if (comma < 0) throw new WeirError('E_INPUT_PARSE', `${path} line ${i + 1}: no comma`);
    stamps.push(line.slice(0, comma));
    vals.push(Number(line.slice(comma + 1)));
  }
  const timestamps = new Float64Array(stamps.length);
  for (let i = 0; i < stamps.length; i++) timestamps[i] = parseNabTime(stamps[i]!);
  return { stamps, timestamps, values: Float64Array.from(vals) };
}

/**
 * Loads a NAB-layout folder: `data/<category>/<file>.csv`, `combined_windows.json`
 * (or `labels/combined_windows.json`) and `profiles.json` (or `config/profiles.json`).
 * Every file named in the windows file is loaded; windows are mapped to the
 * first row carrying each end's timestamp, as NAB does.
 */
export function loadNabCorpus(dir: string, options: { categories?: readonly string[] } = {}): NabCorpus {
  const windowsPath = firstExisting(dir, 'combined_windows.json', join('labels', 'combined_windows.json'));
  const profilesPath = firstExisting(dir, 'profiles.json', join('config', 'profiles.json'));
  const windowsJson = readJson(windowsPath) as Record<string, [string, string][]>;
  const profiles = readJson(profilesPath) as Profiles;
  const files: NabFile[] = [];
  let windowCount = 0;
  for (const key of Object.keys(windowsJson).sort()) {
    const slash = key.indexOf('/');
    const category = key.slice(0, slash);
    if (options.categories !== undefined && !options.categories.includes(category)) continue;
    const path = join(dir, 'data', ...key.split('/'));
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new WeirError('E_IO', `cannot read ${path}`, { cause: e });
    }
    const { stamps, timestamps, values } = parseNabCsv(text, path);
    const firstRow = new Map<number, number>();
    for (let i = 0; i < timestamps.length; i++) if (!firstRow.has(timestamps[i]!)) firstRow.set(timestamps[i]!, i);
    const windows: [number, number][] = [];
    for (const [s, e] of windowsJson[key]!) {
      const a = firstRow.get(parseNabTime(s));
      const b = firstRow.get(parseNabTime(e));
      if (a === undefined || b === undefined) {
        throw new WeirError('E_INPUT_RECORD', `window ${s}..${e} of ${key} does not match a row timestamp`);
      }
      windows.push([a, b]);
    }
    windows.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    windowCount += windows.length;
    const base = key.slice(slash + 1);
    files.push({ key, category, name: base.replace(/\.csv$/, ''), timestamps, values, stamps, windows });
  }
  return { dir, files, profiles, windowCount };
}

/** Data files present under `dir/data` (for warning about unlabeled files). */
export function listDataFiles(dir: string): string[] {
  const out: string[] = [];
  const data = join(dir, 'data');
  if (!existsSync(data)) return out;
  for (const cat of readdirSync(data).sort()) {
    const cdir = join(data, cat);
    if (!statSync(cdir).isDirectory()) continue;
    for (const f of readdirSync(cdir).sort()) if (f.endsWith('.csv')) out.push(`${cat}/${f}`);
  }
  return out;
}
