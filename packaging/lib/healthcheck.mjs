// weir-healthcheck: asks the running gateway's /healthz whether it still
// checkpoints on schedule. Run by weir-health.timer (systemd), because weir
// cannot ping systemd's watchdog itself: sd_notify needs a unix datagram
// socket, which plain Node.js cannot open, and weir ships no native module
// beyond SQLite.
//
//   weir-healthcheck [--url URL] [--timeout-ms 5000] [--state FILE] [--failures 3]
//
// Exit 0: healthy, or unhealthy fewer than --failures times in a row (counted
// in --state, so a gateway replaying a long log after a restart is not killed
// by the first check). Exit 1: unhealthy --failures times in a row; the unit
// then restarts weir and the count starts again. Plain JavaScript, no dependencies: it runs beside the
// bundle with the same node.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.WEIR_HEALTH_URL || 'http://127.0.0.1:9464/healthz' },
    'timeout-ms': { type: 'string', default: '5000' },
    state: { type: 'string' },
    failures: { type: 'string', default: '3' },
  },
});

async function probe() {
  try {
    const res = await fetch(values.url, { signal: AbortSignal.timeout(Number(values['timeout-ms'])) });
    const body = (await res.text()).trim();
    return { ok: res.status === 200, why: `${res.status} ${body}` };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e) };
  }
}

function readCount() {
  if (!values.state) return 0;
  try {
    return Number(readFileSync(values.state, 'utf8')) || 0;
  } catch {
    return 0;
  }
}

const r = await probe();
const failures = r.ok ? 0 : readCount() + 1;
const limit = Math.max(1, Number(values.failures));
// After asking for a restart the count starts again, so a gateway that is slow to come back
// gets `limit` more checks before the next restart.
if (values.state) writeFileSync(values.state, `${failures >= limit ? 0 : failures}\n`);
const line = { msg: r.ok ? 'healthy' : 'unhealthy', url: values.url, detail: r.why, consecutiveFailures: failures, limit };
process.stderr.write(JSON.stringify(line) + '\n');
process.exitCode = failures >= limit ? 1 : 0;
