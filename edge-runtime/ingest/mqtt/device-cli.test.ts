import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CredentialsFile, parseHash, verifySecret } from './credentials-file.ts';
import { runDeviceCommand } from './device-cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-devcli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the command; returns exit code, stdout and stderr lines. */
async function run(argv: string[], stdin?: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDeviceCommand(argv, { out: (l) => out.push(l), err: (l) => err.push(l), ...(stdin === undefined ? {} : { readSecret: async () => stdin }) });
  return { code, out, err };
}

describe('weir device', () => {
  const file = path.join(dir, 'credentials.json');

  test('add prints the secret once on stdout; the file holds only its hash', async () => {
    const r = await run(['add', 'env-0001', '--credentials', file]);
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 1);
    const secret = r.out[0]!;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.err.join('\n').includes(secret), false, 'stderr never repeats the secret');
    assert.equal(fs.readFileSync(file, 'utf8').includes(secret), false);
    const entry = CredentialsFile.load(file).get('env-0001')!;
    assert.equal(await verifySecret(secret, parseHash(entry, 'e')), true);
  });

  test('add again is refused; --replace rotates; list; remove', async () => {
    assert.equal((await run(['add', 'env-0001', '--credentials', file])).code, 1);
    const rotated = await run(['add', 'env-0001', '--credentials', file, '--replace']);
    assert.equal(rotated.code, 0);
    await run(['add', 'env-0002', '--credentials', file]);
    assert.deepEqual((await run(['list', '--credentials', file])).out, ['env-0001', 'env-0002']);
    assert.equal((await run(['remove', 'env-0001', '--credentials', file])).code, 0);
    assert.deepEqual((await run(['list', '--credentials', file])).out, ['env-0002']);
    assert.equal((await run(['remove', 'env-0001', '--credentials', file])).code, 1);
  });

  test('--secret-stdin stores the given secret and prints nothing on stdout', async () => {
    const r = await run(['add', 'env-0003', '--credentials', file, '--secret-stdin'], 'operator-chosen-secret\n');
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, []);
    assert.equal(await verifySecret('operator-chosen-secret', parseHash(CredentialsFile.load(file).get('env-0003')!, 'e')), true);
  });

  const usage: string[][] = [[], ['frobnicate'], ['add'], ['add', 'a', 'b'], ['list', 'x'], ['add', 'x', '--bogus'], ['add', 'x']];
  for (const argv of usage) {
    test(`usage error: ${JSON.stringify(argv)} → exit 2`, async () => assert.equal((await run(argv)).code, 2));
  }

  test('a bad device id fails with exit 1 and no file change', async () => {
    const before = fs.readFileSync(file, 'utf8');
    const r = await run(['add', 'a/b', '--credentials', file]);
    assert.equal(r.code, 1);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
  });
});
