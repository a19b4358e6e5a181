/**
 * Two service instances (each its own connection pool) on one PostgreSQL,
 * receiving the same retried batches at the same time: each seq is stored
 * exactly once, and exactly one answer says it stored each one.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCloudSync, type CloudSync } from './app.ts';
import { PgStorage } from './storage/pg-storage.ts';
import { encodeBody, type BatchRequest } from './protocol.ts';
import { PG_URL, addTestCredentials, anomalyRecord, freshPgSchema, orderedBatch, uploadHeaders, windowRecord } from './test-support.ts';

interface Ack { contiguousSeq: number; stored: number; duplicates: number }

describe('two cloud-sync instances on one PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof freshPgSchema>>;
  let a: CloudSync;
  let b: CloudSync;
  let token = '';
  before(async () => {
    schema = await freshPgSchema();
    const sa = await PgStorage.open({ connectionString: PG_URL, schema: schema.schema, maxConnections: 4 });
    const sb = await PgStorage.open({ connectionString: PG_URL, schema: schema.schema, maxConnections: 4 });
    token = (await addTestCredentials(sa)).a;
    a = createCloudSync({ storage: sa });
    b = createCloudSync({ storage: sb });
  });
  after(async () => {
    await a.storage.close();
    await b.storage.close();
    await schema.drop();
  });

  async function send(app: CloudSync, batch: BatchRequest): Promise<{ status: number; body: Ack & { code?: string } }> {
    const r = await app.inject({ method: 'POST', url: '/v1/batches', headers: uploadHeaders(token), body: encodeBody(batch) });
    return { status: r.status, body: JSON.parse(String(r.body)) as Ack & { code?: string } };
  }

  test('the same batch ten times at once across both: stored once, nine duplicates', async () => {
    const batch = orderedBatch('gw-a', Array.from({ length: 50 }, (_, i) => windowRecord(i + 1)));
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i % 2 === 0 ? a : b, batch)));
    assert.deepEqual(answers.map((x) => x.status), new Array(10).fill(200));
    assert.deepEqual(answers.map((x) => x.body.stored).sort((p, q) => q - p), [50, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(answers.reduce((s, x) => s + x.body.duplicates, 0), 450);
    assert.equal((await a.storage.counts()).records, 50);
  });

  test('four senders racing through 60 batches (with live anomalies) on both instances: every seq once, each reported stored once', async () => {
    // Seqs 51..3050: ordered batches of 50; every 7th seq is an anomaly also sent on the live lane.
    const batches: BatchRequest[] = [];
    for (let k = 0; k < 60; k++) {
      const first = 51 + k * 50;
      const recs = Array.from({ length: 50 }, (_, i) => ((first + i) % 7 === 0 ? anomalyRecord(first + i) : windowRecord(first + i)));
      batches.push(orderedBatch('gw-a', recs));
    }
    const liveRecs = batches.flatMap((bt) => bt.records.filter((r) => r.priority === 0));
    let storedTotal = 0;
    let gaps = 0;
    const sender = async (n: number): Promise<void> => {
      for (let k = 0; k < batches.length; k++) {
        for (let attempt = 0; ; attempt++) {
          const r = await send((k + n + attempt) % 2 === 0 ? a : b, batches[k]!);
          if (r.status === 200) {
            storedTotal += r.body.stored;
            break;
          }
          assert.deepEqual([r.status, r.body.code], [409, 'E_SEQ_GAP']); // a batch ahead of what is stored: resend, as the uplink does
          gaps++;
          await new Promise<void>((res) => setImmediate(res));
        }
      }
    };
    const live = async (): Promise<void> => {
      for (let i = 0; i < liveRecs.length; i += 20) {
        const recs = liveRecs.slice(i, i + 20);
        const r = await send(i % 40 === 0 ? a : b, { v: 1, gatewayId: 'gw-a', lane: 'live', firstSeq: recs[0]!.seq, lastSeq: recs[recs.length - 1]!.seq, skipped: [], records: recs, sentAtMs: 0 });
        assert.equal(r.status, 200);
        storedTotal += r.body.stored;
      }
    };
    await Promise.all([sender(0), sender(1), sender(2), sender(3), live(), live()]);
    assert.equal(storedTotal, 3000, `stored reported ${storedTotal} times for 3,000 seqs (${gaps} gap answers on the way)`);
    const c = await b.storage.counts();
    assert.equal(c.records, 3050);
    const g = (await a.storage.gateways('gw-a'))[0]!;
    assert.deepEqual([g.contiguousSeq, g.highestSeq], [3050, 3050]);
    const seqs = (await a.storage.queryRecords({ kind: 'window', from: -1e15, to: 1e15, limit: 10_000 })).map((r) => r.seq)
      .concat((await a.storage.queryRecords({ kind: 'anomaly', from: -1e15, to: 1e15, limit: 10_000 })).map((r) => r.seq))
      .sort((p, q) => p - q);
    assert.deepEqual(seqs, Array.from({ length: 3050 }, (_, i) => i + 1));
  });
});
