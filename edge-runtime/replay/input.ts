import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Reading, SourceRecord, TagValue } from '../engine/types.ts';
import { InputError, WeirError } from '../errors.ts';

/**
 * Recorded readings, one per line, for `weir replay`.
 *
 * NDJSON (the default): one JSON object per line, either
 *   {"deviceId":"env-1","metric":"temperature","value":21.5,"ts":1767225600000}
 * with optional "arrival" (gateway arrival time; defaults to ts) and "tags" (flat object), or
 *   {"deviceId":"env-1","ts":"2026-01-01T00:00:00Z","metrics":{"temperature":21.5,"humidity":40}}
 * for several metrics at once, or a processing-time tick {"tick":1767225601000}.
 * Times are ms since the epoch or ISO-8601 strings with a zone. Blank lines are skipped.
 *
 * CSV: a header line naming columns; deviceId, metric, value and ts are required,
 * arrival is optional, any other column becomes a tag (numbers stay numbers).
 */
export type InputFormat = 'ndjson' | 'csv';

export interface ParsedLine {
  readonly line: number;
  readonly records: SourceRecord[];
}

function time(v: unknown, what: string, line: number): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\S+(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  throw new InputError('E_INPUT_RECORD', line, `${what} must be ms since the epoch or an ISO-8601 time with a zone, got ${JSON.stringify(v)}`);
}

function id(v: unknown, what: string, line: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256 || v.includes('\u001f')) {
    throw new InputError('E_INPUT_RECORD', line, `${what} must be a non-empty string (≤ 256 chars), got ${JSON.stringify(v)}`);
  }
  return v;
}

function num(v: unknown, what: string, line: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InputError('E_INPUT_RECORD', line, `${what} must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function tags(v: unknown, line: number): Record<string, TagValue> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError('E_INPUT_RECORD', line, 'tags must be a flat object');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'boolean' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw new InputError('E_INPUT_RECORD', line, `tag ${k} must be a string, finite number or boolean`);
    }
  }
  return v as Record<string, TagValue>;
}

export function parseNdjsonLine(text: string, line: number): SourceRecord[] {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new InputError('E_INPUT_PARSE', line, `not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InputError('E_INPUT_RECORD', line, 'expected a JSON object');
  const r = o as Record<string, unknown>;
  if ('tick' in r) return [{ type: 'tick', processingTime: time(r.tick, 'tick', line) }];
  const deviceId = id(r.deviceId, 'deviceId', line);
  const eventTime = time(r.ts, 'ts', line);
  const arrivalTime = r.arrival === undefined ? eventTime : time(r.arrival, 'arrival', line);
  const tg = tags(r.tags, line);
  const mk = (metric: string, value: number): SourceRecord => {
    const reading: Reading = tg === undefined
      ? { deviceId, metric, value, eventTime, arrivalTime }
      : { deviceId, metric, value, eventTime, arrivalTime, tags: tg };
    return { type: 'reading', reading };
  };
  if (r.metrics !== undefined) {
    if (typeof r.metrics !== 'object' || r.metrics === null || Array.isArray(r.metrics)) {
      throw new InputError('E_INPUT_RECORD', line, 'metrics must be an object of metric → number');
    }
    const out: SourceRecord[] = [];
    for (const [m, v] of Object.entries(r.metrics)) out.push(mk(id(m, 'metric name', line), num(v, `metrics.${m}`, line)));
    if (out.length === 0) throw new InputError('E_INPUT_RECORD', line, 'metrics is empty');
    return out;
  }
  return [mk(id(r.metric, 'metric', line), num(r.value, 'value', line))];
}

/** Splits one CSV line; double quotes may wrap a field and "" is a quote inside one. */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cur += '"';
          i++;
        } else q = false;
      } else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export class CsvParser {
  private readonly idx: Record<string, number>;
  private readonly tagCols: [string, number][];
  constructor(private readonly header: string[], line: number) {
    this.idx = {};
    header.forEach((h, i) => (this.idx[h.trim()] = i));
    for (const c of ['deviceId', 'metric', 'value', 'ts']) {
      if (!(c in this.idx)) throw new InputError('E_INPUT_PARSE', line, `CSV header lacks the ${c} column`);
    }
    const known = new Set(['deviceId', 'metric', 'value', 'ts', 'arrival']);
    this.tagCols = header.map((h, i) => [h.trim(), i] as [string, number]).filter(([h]) => !known.has(h));
  }

  parse(text: string, line: number): SourceRecord[] {
    const f = splitCsv(text);
    if (f.length !== this.header.length) throw new InputError('E_INPUT_PARSE', line, `expected ${this.header.length} fields, got ${f.length}`);
    const get = (c: string): string => f[this.idx[c]!]!.trim();
    const toTime = (s: string, what: string): number => time(/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s, what, line);
    const value = get('value');
    const eventTime = toTime(get('ts'), 'ts');
    const arrival = 'arrival' in this.idx ? get('arrival') : '';
    const reading: { -readonly [K in keyof Reading]: Reading[K] } = {
      deviceId: id(get('deviceId'), 'deviceId', line),
      metric: id(get('metric'), 'metric', line),
      value: num(value === '' ? NaN : Number(value), 'value', line),
      eventTime,
      arrivalTime: arrival === '' ? eventTime : toTime(arrival, 'arrival'),
    };
    if (this.tagCols.length > 0) {
      const t: Record<string, TagValue> = {};
      for (const [name, i] of this.tagCols) {
        const s = f[i]!.trim();
        if (s === '') continue;
        const n = Number(s);
        t[name] = Number.isFinite(n) && /^-?\d/.test(s) ? n : s;
      }
      reading.tags = t;
    }
    return [{ type: 'reading', reading }];
  }
}

/** Wraps an input error that must end the read even when bad lines are being skipped. */
class FatalInput {
  constructor(readonly error: unknown) {}
}

export function detectFormat(path: string): InputFormat {
  return path.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson';
}

/** Reads a recording line by line; bad lines are reported through `onBad` (or thrown when strict). */
export async function* readRecords(
  path: string,
  opts: { format?: InputFormat; strict?: boolean; onBad?: (e: InputError) => void; batchSize?: number } = {},
): AsyncGenerator<SourceRecord[]> {
  const format = opts.format ?? detectFormat(path);
  const batchSize = opts.batchSize ?? 1024;
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e) => reject(new WeirError('E_IO', `cannot read ${path}: ${e.message}`, { cause: e })));
  });
  await opened;
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let csv: CsvParser | null = null;
  let line = 0;
  let batch: SourceRecord[] = [];
  try {
    for await (const text of rl) {
      line++;
      if (text.trim() === '') continue;
      try {
        if (format === 'csv') {
          if (csv === null) {
            // A bad header would make every line bad: stop, whatever --strict says.
            try {
              csv = new CsvParser(splitCsv(text.replace(/^\uFEFF/, '')), line);
            } catch (e) {
              throw new FatalInput(e);
            }
            continue;
          }
          batch.push(...csv.parse(text, line));
        } else {
          batch.push(...parseNdjsonLine(text, line));
        }
      } catch (e) {
        if (e instanceof FatalInput) throw e.error;
        if (!(e instanceof InputError)) throw e;
        if (opts.strict) throw e;
        opts.onBad?.(e);
        continue;
      }
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
  } catch (e) {
    // A read that fails after the file opened (a directory, an I/O error) is E_IO, like a failed open.
    if (e instanceof Error && !(e instanceof WeirError) && 'syscall' in e) {
      throw new WeirError('E_IO', `cannot read ${path}: ${e.message}`, { cause: e });
    }
    throw e;
  }
  if (batch.length > 0) yield batch;
}
