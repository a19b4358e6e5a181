import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { parseCloudSection } from './uplink-service.ts';
import { tempDir } from '../state/test-support.ts';
import { ConfigError } from '../errors.ts';

test('cloud section: defaults, files relative to the config, every bad setting named by its field', () => {
  const tmp = tempDir();
  try {
    writeFileSync(tmp.file('token'), 'weir_tok\n');
    writeFileSync(tmp.file('ca.pem'), 'PEM');
    const s = parseCloudSection({ endpoint: 'https://cloud.example:8787', tokenFile: 'token', ca: 'ca.pem', batch: { maxRecords: 500, maxBytes: '256KiB', maxAge: '2s' },
      backlogBandwidth: '64KB', heartbeat: '30s', snapshot: 0, maxInFlight: 3 }, tmp.dir, {}, 1000);
    assert.deepEqual({ ...s, ca: s.ca?.toString() }, {
      endpoint: 'https://cloud.example:8787', token: 'weir_tok', ca: 'PEM', finalUploadMs: 5000,
      options: { batch: { maxRecords: 500, maxBytes: 262_144, maxAgeMs: 2000 }, maxInFlight: 3, backlogBytesPerSec: 65_536, heartbeatIntervalMs: 30_000, snapshotIntervalMs: 0, pollIntervalMs: 1000 },
    });
    const env = parseCloudSection({ endpoint: 'http://10.0.0.1' }, tmp.dir, { WEIR_CLOUD_TOKEN: 'weir_env' }, 0);
    assert.deepEqual([env.token, env.options.heartbeatIntervalMs, env.options.snapshotIntervalMs, env.options.pollIntervalMs], ['weir_env', 60_000, 300_000, 1000]);
    const tuned = parseCloudSection({ endpoint: 'http://10.0.0.1', tokenFile: 'token', timeouts: { connect: '2s', response: '3s', bodyIdle: '1s', total: '10s' }, backoff: { base: '100ms', max: '2s' } }, tmp.dir, {}, 1000);
    assert.deepEqual(tuned.timeouts, { connectMs: 2000, responseMs: 3000, bodyIdleMs: 1000, totalMs: 10_000 });
    assert.deepEqual(tuned.options.backoff, { baseMs: 100, maxMs: 2000 });
    const cases: [Record<string, unknown>, string][] = [
      [{ endpoint: 'https://x', tokenFile: 'token', timeouts: { response: 'never' } }, 'cloud.timeouts.response'],
      [{ endpoint: 'https://x', tokenFile: 'token', timeouts: { read: '1s' } }, 'cloud.timeouts.read'],
      [{ endpoint: 'https://x', tokenFile: 'token', timeouts: 5 }, 'cloud.timeouts'],
      [{ endpoint: 'https://x', tokenFile: 'token', backoff: { max: 'soon' } }, 'cloud.backoff.max'],
      [{ endpoint: 'https://x', tokenFile: 'token', finalUpload: 'later' }, 'cloud.finalUpload'],
      [{ endpoint: 'ftp://x', tokenFile: 'token' }, 'cloud.endpoint'],
      [{ endpoint: 'https://x' }, 'cloud.tokenFile'],
      [{ endpoint: 'https://x', tokenFile: 'missing' }, 'cloud.tokenFile'],
      [{ endpoint: 'https://x', tokenFile: 'token', colour: 1 }, 'cloud.colour'],
      [{ endpoint: 'https://x', tokenFile: 'token', batch: { maxRecords: 0 } }, 'cloud.batch.maxRecords'],
      [{ endpoint: 'https://x', tokenFile: 'token', batch: { size: 1 } }, 'cloud.batch.size'],
      [{ endpoint: 'https://x', tokenFile: 'token', heartbeat: 'often' }, 'cloud.heartbeat'],
      [{ endpoint: 'https://x', tokenFile: 'token', backlogBandwidth: 'fast' }, 'cloud.backlogBandwidth'],
      [{ endpoint: 'https://x', tokenFile: 'token', maxInFlight: 99 }, 'cloud.maxInFlight'],
    ];
    for (const [section, field] of cases) {
      let got = 'no error';
      try {
        parseCloudSection(section, tmp.dir, {}, 1000);
      } catch (e) {
        got = e instanceof ConfigError ? e.field : String(e);
      }
      assert.deepEqual([JSON.stringify(section), got], [JSON.stringify(section), field]);
    }
  } finally {
    tmp.cleanup();
  }
});
