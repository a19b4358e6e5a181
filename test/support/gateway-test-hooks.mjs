/**
 * Test hooks for a `weir run` child process, loaded with NODE_OPTIONS
 * (`--import=<this file>`, see gateway-hooks.ts). Plain JavaScript because
 * it runs before the child registers tsx. In every other process (the
 * cloud, the simulator, the storage worker thread) it does nothing.
 *
 * The gateway runtime's probes (`RuntimeOptions.probe`) are not reachable
 * from a whole process, and the gateway logs nothing around a checkpoint,
 * so this hooks the one boundary every checkpoint crosses: the main
 * thread's `postMessage` of a `commitCheckpoint` request to the storage
 * worker (edge-runtime/state/worker-store.ts) and the worker's answer.
 *
 * Environment (read at each access, so a test can change it before a restart):
 *   WEIR_TEST_PROBES=1         JSON lines on stderr: {"msg":"test-probe","point":"checkpoint-begin"|"checkpoint-committed","checkpointId":N}
 *   WEIR_TEST_KILL=checkpoint-begin:N[:waitMs]
 *                              SIGKILL this process right after posting the N-th checkpoint commit of this
 *                              incarnation (after blocking the main thread for waitMs first, so the worker is
 *                              inside or past the SQLite transaction — never seen committing by the main thread)
 *   WEIR_TEST_KILL=append-committed:TEXT:N
 *                              SIGKILL this process when the storage worker answers that the N-th log append whose
 *                              bytes contain TEXT (e.g. a device id: ticks never match) is committed — before the
 *                              main thread learns it: the reading is durable, its PUBACK is never sent
 *   SIGUSR2                    moves the clock the checkpoint hands to the store forward by
 *                              WEIR_TEST_CLOCK_STEP_MS (default 11 min): outbox rows look that much older
 *                              to the quota's merge-settle rule. Nothing else reads this offset.
 */
import { isMainThread, Worker } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { EventEmitter } from 'node:events';

const argv = process.argv;
const isGateway = isMainThread && /(edge-runtime[\\/]cli[\\/]main\.ts|weir\.mjs)$/.test(argv[1] ?? '') && argv[2] === 'run';

if (isGateway) {
  const say = (o) => {
    if (process.env.WEIR_TEST_PROBES === '1') writeSync(2, `${JSON.stringify({ msg: 'test-probe', ...o })}\n`);
  };
  let clockOffsetMs = 0;
  let checkpointsPosted = 0;
  const commits = new Map(); // request id → checkpointId
  let appendsMatched = 0;
  let killOnAnswer = -1; // request id whose answer ends the process

  process.on('SIGUSR2', () => {
    clockOffsetMs += Number(process.env.WEIR_TEST_CLOCK_STEP_MS ?? 660_000);
    // Always said: the test waits for it to know the step is in effect.
    writeSync(2, `${JSON.stringify({ msg: 'test-probe', point: 'clock-advanced', offsetMs: clockOffsetMs })}\n`);
  });

  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (req, transfer) {
    if (req !== null && typeof req === 'object' && req.method === 'commitCheckpoint') {
      const c = req.args[0];
      if (clockOffsetMs !== 0 && typeof c.nowMs === 'number') c.nowMs += clockOffsetMs;
      commits.set(req.id, c.checkpointId);
      checkpointsPosted++;
      say({ point: 'checkpoint-begin', checkpointId: c.checkpointId, n: checkpointsPosted });
      const r = post.call(this, req, transfer);
      const kill = /^checkpoint-begin:(\d+)(?::(\d+))?$/.exec(process.env.WEIR_TEST_KILL ?? '');
      if (kill !== null && Number(kill[1]) === checkpointsPosted) {
        const waitMs = Number(kill[2] ?? 0);
        if (waitMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, waitMs);
        writeSync(2, `${JSON.stringify({ msg: 'test-probe', point: 'killing', checkpointId: c.checkpointId, waitMs })}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
      return r;
    }
    if (req !== null && typeof req === 'object' && req.method === 'append') {
      const kill = /^append-committed:(.+):(\d+)$/.exec(process.env.WEIR_TEST_KILL ?? '');
      if (kill !== null && Buffer.from(req.args[0]).includes(kill[1]) && ++appendsMatched === Number(kill[2])) killOnAnswer = req.id;
    }
    return post.call(this, req, transfer);
  };

  const emit = Worker.prototype.emit ?? EventEmitter.prototype.emit;
  Worker.prototype.emit = function (event, ...args) {
    if (event === 'message') {
      const res = args[0];
      const id = res !== null && typeof res === 'object' ? res.id : undefined;
      if (id === killOnAnswer) {
        writeSync(2, `${JSON.stringify({ msg: 'test-probe', point: 'killing', append: id, committed: res.ok })}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
      if (commits.has(id)) {
        say({ point: res.ok ? 'checkpoint-committed' : 'checkpoint-failed', checkpointId: commits.get(id) });
        commits.delete(id);
      }
    }
    return emit.call(this, event, ...args);
  };
}
