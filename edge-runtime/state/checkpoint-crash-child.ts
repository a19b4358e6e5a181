/**
 * Child process for checkpoint-crash.test.ts (a fixture, not shipped).
 *
 *   node --import tsx checkpoint-crash-child.ts DB MODE KEYS
 *
 * Every checkpoint c writes KEYS state rows whose value is c, appends a log
 * segment, and adds ROWS outbox rows whose payload is c, so after any crash
 * "all or nothing" is checkable: every state value equals the loaded
 * checkpoint id, and the outbox holds exactly the rows of checkpoints ≤ it.
 *
 * MODE hook:state | hook:outbox — commit checkpoint 1, then block forever
 *   inside checkpoint 2's transaction after that phase (prints IN_TXN).
 * MODE loop — commit checkpoints 1, 2, … forever, printing BEGIN c / DONE c.
 */
import fs from 'node:fs';
import { SqliteStore } from './sqlite-store.ts';
import type { OutboxInput, StateRow } from './store-types.ts';
import { CRASH_CHILD_ROWS as ROWS, makeRecords } from './test-support.ts';

function say(line: string): void {
  fs.writeSync(1, line + '\n');
}

function blockForever(): never {
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

const [file, mode, keysArg] = process.argv.slice(2);
if (file === undefined || mode === undefined) throw new Error('usage: DB MODE KEYS');
const keys = Number(keysArg ?? '20000');
let blockAt = 0;
const phase = mode.startsWith('hook:') ? mode.slice(5) : null;

const store = SqliteStore.open({
  path: file,
  synchronous: 'FULL',
  onCheckpointPhase: (p) => {
    if (blockAt > 0 && p === phase) {
      say('IN_TXN');
      blockForever();
    }
  },
});

function checkpoint(c: number): void {
  const seg = store.appendSegment(makeRecords(100, c));
  const value = Uint8Array.from([c & 255, (c >> 8) & 255]);
  const upserts: StateRow[] = [];
  for (let k = 0; k < keys; k++) upserts.push({ ns: 'op', key: `k${String(k).padStart(6, '0')}`, value });
  const outbox: OutboxInput[] = [];
  for (let i = 0; i < ROWS; i++) outbox.push({ priority: 1, kind: 'aggregate', series: `s${i}`, tStart: c, tEnd: c + 1, payload: value });
  store.commitCheckpoint({ checkpointId: c, consumedOffset: seg.lastOffset, stateUpserts: upserts, stateDeletes: [], outbox });
}

const start = (store.loadCheckpoint()?.checkpointId ?? 0) + 1;
if (phase !== null) {
  checkpoint(start);
  say('COMMITTED');
  blockAt = start + 1;
  checkpoint(start + 1);
  say('ESCAPED'); // the hook never returns; reaching this line is a test failure
} else {
  for (let c = start; ; c++) {
    say(`BEGIN ${c}`);
    checkpoint(c);
    say(`DONE ${c}`);
  }
}
