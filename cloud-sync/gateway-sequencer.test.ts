import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { GatewaySequencer } from './gateway-sequencer.ts';
import { WireError } from './protocol.ts';

test('one gateway: ingests run in turn; a batch that overtook its predecessor runs again after it; gaps with nothing behind are refused', async () => {
  let contiguous = 0;
  const log: string[] = [];
  const ingest = (first: number, last: number) => async (): Promise<number> => {
    log.push(`start ${first}`);
    await tick();
    if (first > contiguous + 1) throw new WireError('E_SEQ_GAP', 'gap', { contiguousSeq: contiguous });
    contiguous = last;
    return last;
  };
  const s = new GatewaySequencer();
  const second = s.run(1, ingest(11, 20)); // overtook the first
  const first = s.run(1, ingest(1, 10));
  assert.deepEqual(await Promise.all([first, second]), [10, 20]);
  assert.deepEqual(log, ['start 11', 'start 1', 'start 11']);
  await assert.rejects(s.run(1, ingest(30, 40)), (e: unknown) => e instanceof WireError && e.code === 'E_SEQ_GAP');
  assert.equal(s.active, 0);
});

test('different gateways do not wait for each other', async () => {
  const s = new GatewaySequencer();
  let release: () => void = () => {};
  const slow = s.run(1, () => new Promise<string>((r) => (release = () => r('slow'))));
  assert.equal(await s.run(2, async () => 'fast'), 'fast');
  release();
  assert.equal(await slow, 'slow');
});
