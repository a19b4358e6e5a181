import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsvParser, detectFormat, parseNdjsonLine, readRecords, splitCsv, type InputFormat } from './input.ts';
import type { SourceRecord } from '../engine/types.ts';
import { InputError, WeirError } from '../errors.ts';

const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z

const rd = (deviceId: string, metric: string, value: number, eventTime: number, arrivalTime = eventTime, tags?: Record<string, string | number | boolean>): SourceRecord =>
  ({ type: 'reading', reading: tags === undefined ? { deviceId, metric, value, eventTime, arrivalTime } : { deviceId, metric, value, eventTime, arrivalTime, tags } });

function assertInputError(fn: () => unknown, code: 'E_INPUT_PARSE' | 'E_INPUT_RECORD', line: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.line, line);
    assert.ok(e.message.startsWith(`line ${line}: `), e.message);
    return true;
  });
}

describe('parseNdjsonLine: valid forms', () => {
  const cases: { name: string; text: string; want: SourceRecord[] }[] = [
    { name: 'single metric, arrival defaults to ts', text: `{"deviceId":"env-1","metric":"temperature","value":21.5,"ts":${T}}`, want: [rd('env-1', 'temperature', 21.5, T)] },
    { name: 'explicit arrival', text: `{"deviceId":"env-1","metric":"t","value":-3,"ts":${T},"arrival":${T + 250}}`, want: [rd('env-1', 't', -3, T, T + 250)] },
    { name: 'tags of every kind', text: `{"deviceId":"d","metric":"m","value":0,"ts":1,"tags":{"site":"lab","floor":2,"ok":false}}`, want: [rd('d', 'm', 0, 1, 1, { site: 'lab', floor: 2, ok: false })] },
    { name: 'empty tags object is kept', text: '{"deviceId":"d","metric":"m","value":0,"ts":1,"tags":{}}', want: [rd('d', 'm', 0, 1, 1, {})] },
    { name: 'ISO time with Z', text: '{"deviceId":"d","metric":"m","value":1,"ts":"2026-01-01T00:00:00Z"}', want: [rd('d', 'm', 1, T)] },
    { name: 'ISO time with offset and millis; ISO arrival', text: '{"deviceId":"d","metric":"m","value":1,"ts":"2026-01-01T01:00:00.250+01:00","arrival":"2026-01-01T00:00:01Z"}', want: [rd('d', 'm', 1, T + 250, T + 1000)] },
    {
      name: 'metrics object: one record per metric, in order, sharing ts, arrival and tags',
      text: `{"deviceId":"env-1","ts":"2026-01-01T00:00:00Z","arrival":${T + 5},"tags":{"site":"lab"},"metrics":{"temperature":21.5,"humidity":40}}`,
      want: [rd('env-1', 'temperature', 21.5, T, T + 5, { site: 'lab' }), rd('env-1', 'humidity', 40, T, T + 5, { site: 'lab' })],
    },
    { name: 'numeric tick', text: `{"tick":${T + 1000}}`, want: [{ type: 'tick', processingTime: T + 1000 }] },
    { name: 'ISO tick', text: '{"tick":"2026-01-01T00:00:10Z"}', want: [{ type: 'tick', processingTime: T + 10_000 }] },
    { name: 'unknown extra fields are ignored', text: '{"deviceId":"d","metric":"m","value":1,"ts":1,"unit":"C"}', want: [rd('d', 'm', 1, 1)] },
    { name: 'surrounding whitespace', text: '  {"deviceId":"d","metric":"m","value":1,"ts":1}  ', want: [rd('d', 'm', 1, 1)] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(parseNdjsonLine(c.text, 1), c.want);
    });
  }
});

describe('parseNdjsonLine: every bad-line kind', () => {
  const cases: { name: string; text: string; code: 'E_INPUT_PARSE' | 'E_INPUT_RECORD' }[] = [
    { name: 'truncated JSON', text: '{"deviceId":"env-02","metric":"humidity",', code: 'E_INPUT_PARSE' },
    { name: 'not JSON at all', text: 'deviceId=env-1 value=3', code: 'E_INPUT_PARSE' },
    { name: 'single quotes', text: "{'deviceId':'d'}", code: 'E_INPUT_PARSE' },
    { name: 'a JSON array', text: '[1,2]', code: 'E_INPUT_RECORD' },
    { name: 'a JSON number', text: '42', code: 'E_INPUT_RECORD' },
    { name: 'JSON null', text: 'null', code: 'E_INPUT_RECORD' },
    { name: 'missing deviceId', text: '{"metric":"m","value":1,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'empty deviceId', text: '{"deviceId":"","metric":"m","value":1,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'numeric deviceId', text: '{"deviceId":7,"metric":"m","value":1,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'deviceId with the key separator', text: '{"deviceId":"a\\u001fb","metric":"m","value":1,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'deviceId longer than 256', text: `{"deviceId":"${'x'.repeat(257)}","metric":"m","value":1,"ts":1}`, code: 'E_INPUT_RECORD' },
    { name: 'missing metric', text: '{"deviceId":"d","value":1,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'string value', text: '{"deviceId":"env-01","metric":"temperature","value":"hot","ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'missing value', text: '{"deviceId":"d","metric":"m","ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'value that overflows to Infinity', text: '{"deviceId":"d","metric":"m","value":1e999,"ts":1}', code: 'E_INPUT_RECORD' },
    { name: 'missing ts', text: '{"deviceId":"d","metric":"m","value":1}', code: 'E_INPUT_RECORD' },
    { name: 'ISO ts without a zone', text: '{"deviceId":"d","metric":"m","value":1,"ts":"2026-01-01T00:00:00"}', code: 'E_INPUT_RECORD' },
    { name: 'date-only ts', text: '{"deviceId":"d","metric":"m","value":1,"ts":"2026-01-01"}', code: 'E_INPUT_RECORD' },
    { name: 'unparseable ISO ts', text: '{"deviceId":"d","metric":"m","value":1,"ts":"2026-13-45T99:00:00Z"}', code: 'E_INPUT_RECORD' },
    { name: 'numeric string ts', text: '{"deviceId":"d","metric":"m","value":1,"ts":"1767225600000"}', code: 'E_INPUT_RECORD' },
    { name: 'bad arrival', text: '{"deviceId":"d","metric":"m","value":1,"ts":1,"arrival":true}', code: 'E_INPUT_RECORD' },
    { name: 'bad tick', text: '{"tick":"soon"}', code: 'E_INPUT_RECORD' },
    { name: 'tags as a list', text: '{"deviceId":"d","metric":"m","value":1,"ts":1,"tags":["a"]}', code: 'E_INPUT_RECORD' },
    { name: 'nested tag', text: '{"deviceId":"d","metric":"m","value":1,"ts":1,"tags":{"a":{"b":1}}}', code: 'E_INPUT_RECORD' },
    { name: 'null tag', text: '{"deviceId":"d","metric":"m","value":1,"ts":1,"tags":{"a":null}}', code: 'E_INPUT_RECORD' },
    { name: 'metrics as a list', text: '{"deviceId":"d","ts":1,"metrics":[1]}', code: 'E_INPUT_RECORD' },
    { name: 'empty metrics', text: '{"deviceId":"d","ts":1,"metrics":{}}', code: 'E_INPUT_RECORD' },
    { name: 'metrics with a string value', text: '{"deviceId":"d","ts":1,"metrics":{"t":20,"h":"wet"}}', code: 'E_INPUT_RECORD' },
    { name: 'metrics with an empty name', text: '{"deviceId":"d","ts":1,"metrics":{"":1}}', code: 'E_INPUT_RECORD' },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.code}`, () => {
      assertInputError(() => parseNdjsonLine(c.text, 17), c.code, 17);
    });
  }
});

describe('splitCsv', () => {
  const cases: [string, string[]][] = [
    ['a,b,c', ['a', 'b', 'c']],
    ['', ['']],
    ['a,,c,', ['a', '', 'c', '']],
    ['"env, 1",2', ['env, 1', '2']],
    ['"say ""hi""",x', ['say "hi"', 'x']],
    ['""', ['']],
    ['a"b,c', ['ab,c']], // a quote inside an unquoted field opens quoting (lenient, not RFC 4180)
    ['"unterminated,x', ['unterminated,x']],
  ];
  for (const [text, want] of cases) {
    test(JSON.stringify(text), () => {
      assert.deepEqual(splitCsv(text), want);
    });
  }
});

describe('CsvParser', () => {
  const header = (h: string): CsvParser => new CsvParser(splitCsv(h), 1);

  test('columns in any order; arrival optional; extra columns become tags (numbers stay numbers)', () => {
    const p = header('ts,value,deviceId,site,metric,floor,arrival');
    assert.deepEqual(p.parse(`${T},21.5,env-1,lab,temperature,2,${T + 40}`, 2), [rd('env-1', 'temperature', 21.5, T, T + 40, { site: 'lab', floor: 2 })]);
    assert.deepEqual(p.parse(`${T},-1.25,env-1,-7,t,,`, 3), [rd('env-1', 't', -1.25, T, T, { site: -7 })]);
  });

  test('quoted fields and surrounding spaces; ISO times', () => {
    const p = header('deviceId,metric,value,ts');
    assert.deepEqual(p.parse('"pump, north", "flow" , 3 ,2026-01-01T00:00:00Z', 2), [rd('pump, north', 'flow', 3, T)]);
    assert.deepEqual(p.parse('"a ""quoted"" id",m,0,2026-01-01T01:00:00+01:00', 3), [rd('a "quoted" id', 'm', 0, T)]);
  });

  test('without tag columns the reading has no tags', () => {
    const p = header('deviceId,metric,value,ts,arrival');
    assert.deepEqual(p.parse('d,m,1,10,', 2), [rd('d', 'm', 1, 10, 10)]);
  });

  test('a header without a required column → E_INPUT_PARSE on the header line', () => {
    for (const missing of ['deviceId', 'metric', 'value', 'ts']) {
      const cols = ['deviceId', 'metric', 'value', 'ts'].filter((c) => c !== missing);
      assertInputError(() => new CsvParser(cols, 4), 'E_INPUT_PARSE', 4);
    }
  });

  const bad: { name: string; text: string; code: 'E_INPUT_PARSE' | 'E_INPUT_RECORD' }[] = [
    { name: 'too few fields', text: 'd,m,1', code: 'E_INPUT_PARSE' },
    { name: 'too many fields', text: 'd,m,1,2,3', code: 'E_INPUT_PARSE' },
    { name: 'unterminated quote swallows the commas', text: '"d,m,1,2', code: 'E_INPUT_PARSE' },
    { name: 'empty value', text: 'd,m,,2', code: 'E_INPUT_RECORD' },
    { name: 'non-numeric value', text: 'd,m,hot,2', code: 'E_INPUT_RECORD' },
    { name: 'Infinity value', text: 'd,m,Infinity,2', code: 'E_INPUT_RECORD' },
    { name: 'empty deviceId', text: ',m,1,2', code: 'E_INPUT_RECORD' },
    { name: 'empty metric', text: 'd, ,1,2', code: 'E_INPUT_RECORD' },
    { name: 'bad ts', text: 'd,m,1,yesterday', code: 'E_INPUT_RECORD' },
    { name: 'ISO ts without zone', text: 'd,m,1,2026-01-01T00:00:00', code: 'E_INPUT_RECORD' },
  ];
  for (const c of bad) {
    test(`${c.name} → ${c.code}`, () => {
      assertInputError(() => header('deviceId,metric,value,ts').parse(c.text, 9), c.code, 9);
    });
  }

  test('bad arrival → E_INPUT_RECORD', () => {
    assertInputError(() => header('deviceId,metric,value,ts,arrival').parse('d,m,1,2,later', 5), 'E_INPUT_RECORD', 5);
  });
});

describe('detectFormat', () => {
  const cases: [string, InputFormat][] = [['a.csv', 'csv'], ['A.CSV', 'csv'], ['a.ndjson', 'ndjson'], ['a.jsonl', 'ndjson'], ['csv', 'ndjson']];
  for (const [p, want] of cases) test(p, () => assert.equal(detectFormat(p), want));
});

describe('readRecords', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weir-input-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  async function collect(path: string, opts: Parameters<typeof readRecords>[1] = {}): Promise<{ batches: SourceRecord[][]; bad: [number, string][] }> {
    const bad: [number, string][] = [];
    const batches: SourceRecord[][] = [];
    for await (const b of readRecords(path, { ...opts, onBad: (e) => bad.push([e.line, e.code]) })) batches.push(b);
    return { batches, bad };
  }

  const NDJSON = [
    `{"deviceId":"a","metric":"m","value":1,"ts":${T}}`, // 1
    '', // 2 blank: skipped, still counted
    '{"deviceId":"a","metric":"m","value":"x","ts":1}', // 3 bad record
    `{"tick":${T + 10}}`, // 4
    '{"deviceId":"a",', // 5 bad parse
    '   ', // 6 whitespace only
    `{"deviceId":"b","ts":${T},"metrics":{"t":1,"h":2}}`, // 7
    '[]', // 8 bad record
  ].join('\n') + '\n';

  test('non-strict: bad lines go to onBad with their line numbers, the rest is read', async () => {
    const { batches, bad } = await collect(file('mixed.ndjson', NDJSON));
    assert.deepEqual(bad, [[3, 'E_INPUT_RECORD'], [5, 'E_INPUT_PARSE'], [8, 'E_INPUT_RECORD']]);
    assert.deepEqual(batches, [[rd('a', 'm', 1, T), { type: 'tick', processingTime: T + 10 }, rd('b', 't', 1, T), rd('b', 'h', 2, T)]]);
  });

  test('non-strict without onBad: bad lines are skipped', async () => {
    const out: SourceRecord[] = [];
    for await (const b of readRecords(file('mixed2.ndjson', NDJSON))) out.push(...b);
    assert.equal(out.length, 4);
  });

  test('strict: the first bad line throws its InputError; onBad is not called', async () => {
    const seen: SourceRecord[] = [];
    const bad: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const b of readRecords(file('strict.ndjson', NDJSON), { strict: true, batchSize: 1, onBad: (e) => bad.push(e.line) })) seen.push(...b);
      })(),
      (e: unknown) => e instanceof InputError && e.code === 'E_INPUT_RECORD' && e.line === 3,
    );
    assert.deepEqual(seen, [rd('a', 'm', 1, T)]);
    assert.deepEqual(bad, []);
  });

  test('batches: full batches of batchSize, a multi-metric line is never split', async () => {
    const lines = [1, 2, 3].map((v) => `{"deviceId":"a","metric":"m","value":${v},"ts":${v}}`);
    lines.push('{"deviceId":"a","ts":4,"metrics":{"x":4,"y":5,"z":6}}', '{"tick":9}');
    const { batches } = await collect(file('batches.ndjson', lines.join('\n')), { batchSize: 2 });
    assert.deepEqual(batches.map((b) => b.length), [2, 4, 1]);
    assert.deepEqual(batches.flat().map((r) => (r.type === 'reading' ? r.reading.value : r.processingTime)), [1, 2, 3, 4, 5, 6, 9]);
  });

  test('CSV: BOM, CRLF, header, quoting, tags, arrival column, bad lines with line numbers', async () => {
    const csv = [
      '\uFEFFdeviceId,metric,value,ts,arrival,site', // 1 header
      `env-1,temperature,21.5,${T},,lab`, // 2
      '', // 3
      `"env, 2",humidity,40,2026-01-01T00:00:01Z,${T + 1500},"north ""A"""`, // 4
      'env-3,temperature,hot,1,,x', // 5 bad record
      'env-3,temperature,1', // 6 bad parse (field count)
      `env-3,temperature,-2,${T + 2},${T + 9},`, // 7
    ].join('\r\n') + '\r\n';
    const { batches, bad } = await collect(file('in.csv', csv));
    assert.deepEqual(bad, [[5, 'E_INPUT_RECORD'], [6, 'E_INPUT_PARSE']]);
    assert.deepEqual(batches.flat(), [
      rd('env-1', 'temperature', 21.5, T, T, { site: 'lab' }),
      rd('env, 2', 'humidity', 40, T + 1000, T + 1500, { site: 'north "A"' }),
      rd('env-3', 'temperature', -2, T + 2, T + 9, {}),
    ]);
  });

  test('CSV: a header lacking a column stops the read, strict or not (every line would be bad)', async () => {
    const p = file('nohead.csv', 'deviceId,value,ts\nd,1,2\n');
    for (const strict of [false, true]) {
      const bad: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const b of readRecords(p, { strict, onBad: (e) => bad.push(e.line) })) void b;
        })(),
        (e: unknown) => e instanceof InputError && e.code === 'E_INPUT_PARSE' && e.line === 1,
      );
      assert.deepEqual(bad, []);
    }
  });

  test('format option overrides the file extension', async () => {
    const p = file('data.txt', `deviceId,metric,value,ts\nd,m,1,${T}\n`);
    const { batches } = await collect(p, { format: 'csv' });
    assert.deepEqual(batches, [[rd('d', 'm', 1, T)]]);
    const asJson = await collect(p);
    assert.deepEqual(asJson.bad, [[1, 'E_INPUT_PARSE'], [2, 'E_INPUT_PARSE']]);
  });

  test('an empty file yields nothing', async () => {
    assert.deepEqual(await collect(file('empty.ndjson', '')), { batches: [], bad: [] });
    assert.deepEqual(await collect(file('empty.csv', '')), { batches: [], bad: [] });
  });

  test('a missing file is E_IO', async () => {
    await assert.rejects(collect(join(dir, 'nope.ndjson')), (e: unknown) => e instanceof WeirError && e.code === 'E_IO');
  });

  test('a directory is E_IO', async () => {
    await assert.rejects(collect(dir), (e: unknown) => e instanceof WeirError && e.code === 'E_IO');
  });
});
