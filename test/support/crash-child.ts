/**
 * Child process for the crash test: opens the store, recovers, appends the
 * rest of the deterministic stream through group commit, checkpoints every
 * few segments, closes cleanly and prints DONE. Prints a marker line at every
 * probe point so the parent can SIGKILL it exactly there:
 *   P <offset>   a committed segment was processed
 *   C <id>       a checkpoint transaction is being sent
 *   K <id>       a checkpoint committed
 * Usage: node --import tsx crash-child.ts DB TOTAL [BUDGET_BYTES]
 * With a budget, operator state is held under it by spilling to DB.spill.
 */
import { writeSync } from 'node:fs';
import { WorkerStateStore } from '../../edge-runtime/state/worker-store.ts';
import { GatewayRuntime } from '../../edge-runtime/runtime/gateway-runtime.ts';
import { ManualClock } from '../../edge-runtime/engine/types.ts';
import { SqliteColdStores } from '../../edge-runtime/state/cold-store.ts';
import { CRASH_PLANS, streamRecord } from './crash-stream.ts';

const [db, totalArg, budgetArg] = process.argv.slice(2);
const total = Number(totalArg);
const budget = Number(budgetArg ?? 0);
const cold = budget > 0 ? new SqliteColdStores(`${db}.spill`) : null;
const say = (s: string): void => {
  writeSync(1, s + '\n'); // synchronous: the marker is out before the next step runs
};

const store = await WorkerStateStore.open({ path: db!, synchronous: 'NORMAL' });
let segments = 0;
let rt: GatewayRuntime | null = null;
rt = await GatewayRuntime.start({
  store,
  plans: CRASH_PLANS,
  clock: new ManualClock(0),
  checkpointIntervalMs: 0,
  tickIntervalMs: 0,
  groupCommit: { maxBatchRecords: 200, maxDelayMs: 1 },
  ...(cold !== null ? { memory: { bytes: budget }, coldStore: (ns: string) => cold.forNamespace(ns) } : {}),
  probe: (point, n) => {
    if (point === 'segment-processed') {
      say(`P ${n}`);
      if (++segments % 3 === 0 && rt !== null) void rt.checkpoint();
    } else if (point === 'checkpoint-begin') say(`C ${n}`);
    else if (point === 'checkpoint-committed') say(`K ${n}`);
  },
});
const { nextOffset } = await store.logStats();
say(`R ${nextOffset}`);
const acks: Promise<number>[] = [];
// Offsets start at 1: stream record i has offset i + 1.
for (let i = nextOffset - 1; i < total; i++) {
  if (!rt.writable) await rt.drained();
  acks.push(rt.append(streamRecord(i)));
}
await Promise.all(acks);
await rt.close();
await store.close();
// With a budget, checkpointMaxRows defaults to one row per KiB of it: early checkpoints happen between the kills too.
if (rt.governor !== null) say(`G ${JSON.stringify({ ...rt.governor.stats, earlyCheckpoints: rt.stats.earlyCheckpoints })}`);
cold?.close();
say('DONE');
