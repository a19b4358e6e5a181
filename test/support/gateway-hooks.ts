/**
 * Starts a Stack whose gateway child carries the test hooks of
 * gateway-test-hooks.mjs (checkpoint probes, kill at the N-th checkpoint,
 * a checkpoint clock the test moves forward), and drives them.
 *
 * The hooks go in through NODE_OPTIONS in the stack's `env`; the Stack
 * hands one environment object to every (re)start of a child, so a change
 * for the next incarnation (a kill point) is written into that object. The
 * hooks act only in the `weir run` process; the cloud, the simulator and
 * one-shot commands load and ignore them.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Stack, type StackOptions } from '../../edge-runtime/demo/stack.ts';
import type { LogLine } from '../../edge-runtime/demo/managed-process.ts';

const HOOKS = fileURLToPath(new URL('./gateway-test-hooks.mjs', import.meta.url));

/** `env`: more variables for the children from their first start (e.g. WEIR_TEST_KILL, see the hooks file). */
export function startHookedStack(o: StackOptions, env: Readonly<Record<string, string>> = {}): Promise<Stack> {
  const nodeOptions = [o.env?.NODE_OPTIONS ?? process.env.NODE_OPTIONS, `--import=${pathToFileURL(HOOKS).href}`].filter((x) => x !== undefined && x !== '').join(' ');
  return Stack.start({ ...o, env: { ...o.env, ...env, NODE_OPTIONS: nodeOptions, WEIR_TEST_PROBES: '1' } });
}

/** The environment the gateway's next (re)start gets. */
function gatewayEnv(stack: Stack): NodeJS.ProcessEnv {
  const env = stack.gateway.spec.env;
  if (env === undefined || !(env.NODE_OPTIONS ?? '').includes('gateway-test-hooks')) throw new Error('the stack was not started with startHookedStack');
  return env;
}

/** From the next gateway start on: SIGKILL at the n-th checkpoint commit it posts (null: no kill). */
export function killAtCheckpoint(stack: Stack, at: { n: number; waitMs?: number } | null): void {
  const env = gatewayEnv(stack);
  if (at === null) delete env.WEIR_TEST_KILL;
  else env.WEIR_TEST_KILL = `checkpoint-begin:${at.n}${at.waitMs !== undefined ? `:${at.waitMs}` : ''}`;
}

/** The WEIR_TEST_KILL value: die once the n-th log append holding `text` is durable, before the gateway can ack it. */
export const killAfterAppend = (text: string, n = 1): string => `append-committed:${text}:${n}`;

export function disarmKill(stack: Stack): void {
  delete gatewayEnv(stack).WEIR_TEST_KILL;
}

export const isProbe = (point: string) => (l: LogLine): boolean => l.json?.msg === 'test-probe' && l.json.point === point;

/**
 * Moves the gateway's checkpoint clock forward by one step (11 min: past the
 * outbox's 10-min merge-settle time, so every row already queued may be
 * merged under the quota) and waits until it took effect. Returns the
 * total offset.
 */
export async function advanceCheckpointClock(stack: Stack): Promise<number> {
  gatewayEnv(stack);
  const mark = stack.gateway.mark();
  process.kill(stack.gateway.pid, 'SIGUSR2');
  const l = await stack.gateway.waitFor(isProbe('clock-advanced'), { after: mark, timeoutMs: 10_000 });
  return Number(l.json!.offsetMs);
}
