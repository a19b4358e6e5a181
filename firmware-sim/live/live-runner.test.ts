import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveRunner } from './live-runner.ts';
import type { RunnerStatus } from './live-runner.ts';

/** A stand-in engine that records the times it was asked to reach. */
function target(congestedTurns: number) {
  const asked: number[] = [];
  let congested = congestedTurns;
  let expired = 0;
  const t = {
    engine: {
      now: 0,
      runUntil(to: number): boolean {
        asked.push(to);
        t.engine.now = to;
        return true;
      },
    },
    congested: (): boolean => congested-- > 0,
    coap: { expire: (): void => void expired++ },
  };
  return { t, asked, expiredCount: () => expired };
}

test('simulated time follows the wall clock × time scale and stops at the end', async () => {
  const { t, asked, expiredCount } = target(0);
  let wall = 1000;
  const statuses: RunnerStatus[] = [];
  const runner = new LiveRunner(t, {
    simStart: 50_000, simEnd: 50_000 + 60_000, timeScale: 10, tickMs: 0,
    wallNow: () => (wall += 500), // each reading of the wall clock is 500 ms later
    onStatus: (s) => statuses.push(s),
  });
  runner.start();
  await runner.done;
  assert.equal(t.engine.now, 110_000);
  // Strictly increasing targets, 10× the wall step apart, capped at the end.
  for (let i = 1; i < asked.length; i++) assert.ok(asked[i] > asked[i - 1]);
  assert.equal(asked.at(-1), 110_000);
  assert.ok(asked.every((a) => (a - 50_000) % 5000 === 0 || a === 110_000), asked.join(','));
  assert.ok(statuses.length > 0 && expiredCount() === asked.length);
});

test('while the transports are congested the runner does not advance simulated time', async () => {
  const { t, asked } = target(3);
  let wall = 0;
  const runner = new LiveRunner(t, { simStart: 0, simEnd: 10_000, timeScale: 1, tickMs: 0, wallNow: () => (wall += 1000) });
  runner.start();
  await runner.done;
  // Three congested turns passed without a runUntil call; then it caught up to the end.
  assert.equal(asked[0] >= 4000, true, asked.join(','));
  assert.equal(t.engine.now, 10_000);
});
