import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { TOKEN_PATTERN } from './auth.ts';
import { encodeBody } from './protocol.ts';
import { orderedBatch, tempDir, uploadHeaders, windowRecord } from './test-support.ts';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'cloud-sync/cli.ts');
const env = { ...process.env, DATABASE_URL: '' };

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('weir-cloud: gateway add prints a token once, names are unique, usage errors exit 2', () => {
  const tmp = tempDir();
  try {
    const db = tmp.file('c.db');
    const add = run(['gateway', 'add', 'gw-north-1', '--db', db]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout.trim(), TOKEN_PATTERN);
    assert.doesNotMatch(add.stderr, /weir_/, 'the token is on stdout only');
    const again = run(['gateway', 'add', 'gw-north-1', '--db', db]);
    assert.deepEqual([again.code, again.stdout], [1, '']);
    assert.match(again.stderr, /\[E_EXISTS\]/);
    const second = run(['gateway', 'token', 'gw-north-1', '--db', db]);
    assert.equal(second.code, 0);
    assert.notEqual(second.stdout.trim(), add.stdout.trim());
    assert.match(run(['gateway', 'token', 'nope', '--db', db]).stderr, /\[E_NO_SUCH_GATEWAY\]/);
    assert.equal(run(['reader', 'add', 'ops', '--db', db]).code, 0);
    for (const bad of [['gateway', 'add', 'has space', '--db', db], ['gateway', 'remove', 'x'], ['frobnicate'], ['serve', '--port', 'x'], ['serve', '--bogus']]) {
      const r = run(bad);
      assert.deepEqual([bad.join(' '), r.code], [bad.join(' '), 2], r.stderr);
    }
  } finally {
    tmp.cleanup();
  }
});

test('weir-cloud serve: accepts a batch with the printed token, shuts down on SIGTERM with exit 0, never logs the token', async () => {
  const tmp = tempDir();
  try {
    const db = tmp.file('c.db');
    const token = run(['gateway', 'add', 'gw-a', '--db', db]).stdout.trim();
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--db', db, '--port', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+) \(sqlite\)/.exec(line)?.[1];
    assert.ok(url !== undefined, line);
    const res = await fetch(`${url}/v1/batches`, { method: 'POST', headers: uploadHeaders(token), body: encodeBody(orderedBatch('gw-a', [windowRecord(1), windowRecord(2)])) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { v: 1, gatewayId: 'gw-a', contiguousSeq: 2, highestSeq: 2, stored: 2, duplicates: 0, tombstoned: 0 });
    const refused = await fetch(`${url}/v1/fleet`, { headers: { authorization: `Bearer weir_${'z'.repeat(43)}` } });
    assert.equal(refused.status, 401);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.ok(!stderr.includes(token), 'the token never appears in the logs');
    assert.match(stderr, /"msg":"cloud-sync stopped"/);
  } finally {
    tmp.cleanup();
  }
});
