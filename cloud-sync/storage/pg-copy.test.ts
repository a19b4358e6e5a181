import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { COPY_RECORDS, copyIn, encodeCopy } from './pg-copy.ts';
import { MIGRATIONS } from './schema.ts';
import { PG_URL, anomalyRecord, freshPgSchema, indexed, windowRecord } from '../test-support.ts';

test('COPY: rows go in; a refused COPY (a seq already there) rejects with the server\'s error and leaves the connection usable', async () => {
  const schema = await freshPgSchema();
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1, options: `-c search_path=${schema.schema}` });
  try {
    const c = await pool.connect();
    try {
      await c.query(MIGRATIONS[0]!.postgres);
      assert.equal(await copyIn(c, COPY_RECORDS, encodeCopy(7, 1000, [indexed(windowRecord(1)), indexed(anomalyRecord(2))])), 2);
      await c.query('BEGIN');
      await assert.rejects(copyIn(c, COPY_RECORDS, encodeCopy(7, 2000, [indexed(windowRecord(3)), indexed(windowRecord(2))])),
        (e: { code?: string }) => e.code === '23505');
      await c.query('ROLLBACK');
      const rows = (await c.query('SELECT gateway_id, seq, kind, received_at_ms FROM records ORDER BY seq')).rows as unknown[];
      assert.deepEqual(rows, [
        { gateway_id: 7, seq: '1', kind: 'window', received_at_ms: '1000' },
        { gateway_id: 7, seq: '2', kind: 'anomaly', received_at_ms: '1000' },
      ]);
      assert.equal(await copyIn(c, COPY_RECORDS, encodeCopy(7, 3000, [])), 0);
    } finally {
      c.release();
    }
  } finally {
    await pool.end();
    await schema.drop();
  }
});
