import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CredentialsFile, GENERATED_SECRET_SCRYPT, SUPPLIED_SECRET_SCRYPT, checkDeviceId, generateSecret, hashSecret, parseHash, verifySecret,
} from './credentials-file.ts';
import { MqttIngestError, type MqttIngestErrorCode } from './mqtt-errors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-cred-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(dir, `c${++n}.json`);
const code = (c: MqttIngestErrorCode) => (e: unknown): boolean => e instanceof MqttIngestError && e.code === c;

describe('hashes', () => {
  test('a hash verifies its secret and nothing else', async () => {
    const h = parseHash(await hashSecret('correct horse', GENERATED_SECRET_SCRYPT), 'x');
    assert.equal(await verifySecret('correct horse', h), true);
    assert.equal(await verifySecret(Buffer.from('correct horse'), h), true);
    assert.equal(await verifySecret('correct hors', h), false);
    assert.equal(await verifySecret('', h), false);
  });

  test('the entry is scrypt$N$r$p$salt$hash with the given parameters and a fresh salt each time', async () => {
    const a = await hashSecret('s3cret-s3cret', { N: 1024, r: 8, p: 1 });
    const b = await hashSecret('s3cret-s3cret', { N: 1024, r: 8, p: 1 });
    assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    assert.equal(a.includes('s3cret'), false);
  });

  const bad: [string, string][] = [
    ['not-scrypt', 'no prefix'],
    ['scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'N not a power of two'],
    ['scrypt$1024$99$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'r too large'],
    ['scrypt$1024$8$1$AA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'salt too short'],
    ['scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAA', 'hash too short'],
    ['scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA', 'missing field'],
  ];
  for (const [entry, why] of bad) {
    test(`parseHash refuses ${why}, naming the entry but not quoting it`, () => {
      assert.throws(() => parseHash(entry, 'device d1'), (e: unknown) => code('E_MQTT_CREDENTIALS')(e) && (e as Error).message.startsWith('device d1:') && !(e as Error).message.includes(entry));
    });
  }

  test('generated secrets are 43 base64url characters and differ', () => {
    const a = generateSecret();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, generateSecret());
  });
});

describe('device ids', () => {
  const ids: [string, boolean][] = [
    ['env-0001', true], ['a', true], ['dev.1:x_y', true], ['', false], ['a/b', false], ['a+b', false], ['a#', false], ['a\u0000', false], ['x'.repeat(129), false],
  ];
  for (const [id, ok] of ids) test(`${JSON.stringify(id.slice(0, 10))} ${ok ? 'usable' : 'refused'}`, () => assert.equal(checkDeviceId(id) === null, ok));
});

describe('CredentialsFile', () => {
  test('add, save, load: only hashes on disk, mode 0600, the returned secret verifies', async () => {
    const p = fresh();
    const f = CredentialsFile.load(p, { createIfMissing: true });
    const s1 = await f.add('env-0001');
    const s2 = await f.add('env-0002', { secret: 'chosen-by-operator' });
    f.save();
    const text = fs.readFileSync(p, 'utf8');
    assert.equal(text.includes(s1), false);
    assert.equal(text.includes('chosen-by-operator'), false);
    assert.equal(fs.statSync(p).mode & 0o777, 0o600);
    const g = CredentialsFile.load(p);
    assert.deepEqual(g.ids(), ['env-0001', 'env-0002']);
    const e1 = parseHash(g.get('env-0001')!, 'e1');
    const e2 = parseHash(g.get('env-0002')!, 'e2');
    assert.deepEqual(e1.params, GENERATED_SECRET_SCRYPT, 'generated secrets: the fast parameters');
    assert.deepEqual(e2.params, SUPPLIED_SECRET_SCRYPT, 'chosen secrets: the strong parameters');
    assert.equal(await verifySecret(s1, e1), true);
    assert.equal(await verifySecret('chosen-by-operator', e2), true);
    assert.equal(await verifySecret(s1, e2), false);
    assert.deepEqual(fs.readdirSync(dir).filter((x) => x.includes('.tmp-')), [], 'no temporary file left');
  });

  test('an existing device is refused unless replace; replace rotates the secret', async () => {
    const f = CredentialsFile.load(fresh(), { createIfMissing: true });
    const old = await f.add('d1');
    await assert.rejects(f.add('d1'), code('E_MQTT_CREDENTIALS'));
    const neu = await f.add('d1', { replace: true });
    const e = parseHash(f.get('d1')!, 'd1');
    assert.equal(await verifySecret(neu, e), true);
    assert.equal(await verifySecret(old, e), false);
  });

  test('remove', async () => {
    const f = CredentialsFile.load(fresh(), { createIfMissing: true });
    await f.add('d1');
    assert.equal(f.remove('d1'), true);
    assert.equal(f.remove('d1'), false);
    assert.equal(f.size, 0);
  });

  test('bad input is refused with stable codes', async () => {
    const f = CredentialsFile.load(fresh(), { createIfMissing: true });
    await assert.rejects(f.add('a/b'), code('E_MQTT_DEVICE_ID'));
    await assert.rejects(f.add('d1', { secret: 'short' }), code('E_MQTT_CREDENTIALS'));
    assert.throws(() => CredentialsFile.load(fresh()), code('E_MQTT_CREDENTIALS'), 'missing file without createIfMissing');
    const files: [string, string][] = [
      ['{ not json', 'not json'],
      ['[]', 'an array'],
      ['{"d1": 5}', 'a non-string entry'],
      ['{"d1": "scrypt$nope"}', 'a malformed entry'],
      ['{"a/b": "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}', 'a bad id'],
    ];
    for (const [text, why] of files) {
      const p = fresh();
      fs.writeFileSync(p, text);
      assert.throws(() => CredentialsFile.load(p), (e: unknown) => e instanceof MqttIngestError, why);
    }
  });
});
