import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteStorage } from './sqlite-storage.ts';
import { PgStorage } from './pg-storage.ts';
import { SCHEMA_VERSION } from './schema.ts';
import { PG_URL, freshPgSchema, tempDir } from '../test-support.ts';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

test('SQLite: a database from a newer schema is refused and left untouched', async () => {
  const tmp = tempDir();
  try {
    const file = tmp.file('c.db');
    await (await SqliteStorage.open({ path: file })).close();
    const db = new Database(file); // a test may fabricate files with the binding directly
    assert.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number }).value, SCHEMA_VERSION);
    db.prepare(`UPDATE meta SET value = 99 WHERE key = 'schema_version'`).run();
    db.close();
    assert.equal(await codeOf(SqliteStorage.open({ path: file })), 'E_STORAGE_SCHEMA_NEWER');
    const again = new Database(file);
    assert.equal((again.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number }).value, 99);
    again.close();
  } finally {
    tmp.cleanup();
  }
});

test('PostgreSQL: instances starting together migrate once; a newer schema is refused and left untouched', async () => {
  const { schema, drop } = await freshPgSchema();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const opened = await Promise.all([1, 2, 3].map(() => PgStorage.open({ connectionString: PG_URL, schema })));
    for (const s of opened) await s.close();
    const v = await admin.query(`SELECT value FROM ${schema}.weir_meta WHERE key = 'schema_version'`);
    assert.equal(Number(v.rows[0].value), SCHEMA_VERSION);
    await admin.query(`UPDATE ${schema}.weir_meta SET value = 99 WHERE key = 'schema_version'`);
    assert.equal(await codeOf(PgStorage.open({ connectionString: PG_URL, schema })), 'E_STORAGE_SCHEMA_NEWER');
    assert.equal(Number((await admin.query(`SELECT value FROM ${schema}.weir_meta`)).rows[0].value), 99);
    assert.equal(await codeOf(PgStorage.open({ connectionString: PG_URL, schema: 'Bad; DROP' })), 'E_CONFIG');
  } finally {
    await admin.end();
    await drop();
  }
});

test('PostgreSQL unreachable: opening fails with E_STORAGE', async () => {
  assert.equal(await codeOf(PgStorage.open({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })), 'E_STORAGE');
});
