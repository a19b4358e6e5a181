import { parseArgs } from 'node:util';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { WorkerStateStore } from '../state/worker-store.ts';
import type { StateStore } from '../state/store-types.ts';
import { restoreFromCloud } from './snapshot.ts';
import { UplinkError } from './uplink-errors.ts';
import { systemTimer } from '../state/group-commit-log.ts';
import { systemClock } from '../engine/types.ts';

export const RESTORE_HELP = `weir restore --from-cloud --endpoint URL --gateway ID --state FILE [--token-file FILE] [--ca FILE]
    On a replacement gateway: fetch the latest checkpoint snapshot of gateway ID from
    cloud-sync and write it into a new state database FILE (which must not exist), so the
    gateway resumes with the same state and its outbox seqs continue after everything the
    cloud holds. The token is read from --token-file or WEIR_CLOUD_TOKEN (never an argument:
    arguments are visible to every user of the machine).
`;

/**
 * `weir restore --from-cloud ...` (the edge CLI dispatches `restore` here).
 * Returns the exit code: 0 restored, 1 failed (the new database is removed
 * again, so the command can simply be repeated), 2 bad usage.
 */
export async function restoreCommand(
  argv: readonly string[],
  io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv; open?: (path: string) => Promise<StateStore> } =
  { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s), env: process.env },
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'from-cloud': { type: 'boolean' }, endpoint: { type: 'string' }, gateway: { type: 'string' }, state: { type: 'string' },
        'token-file': { type: 'string' }, ca: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    io.err(`weir restore: ${(e as Error).message} [E_USAGE]\n${RESTORE_HELP}`);
    return 2;
  }
  const usage = (m: string): number => {
    io.err(`weir restore: ${m} [E_USAGE]\n${RESTORE_HELP}`);
    return 2;
  };
  if (values['from-cloud'] !== true) return usage('only --from-cloud is supported');
  const endpoint = values.endpoint as string | undefined;
  const gateway = values.gateway as string | undefined;
  const state = values.state as string | undefined;
  if (endpoint === undefined || gateway === undefined || state === undefined) return usage('--endpoint, --gateway and --state are required');
  let token: string | undefined;
  try {
    token = values['token-file'] !== undefined ? readFileSync(values['token-file'] as string, 'utf8').trim() : io.env.WEIR_CLOUD_TOKEN;
  } catch (e) {
    io.err(`weir restore: cannot read the token file: ${(e as Error).message} [E_IO]\n`);
    return 1;
  }
  if (token === undefined || token === '') return usage('no token: give --token-file FILE or set WEIR_CLOUD_TOKEN');
  if (existsSync(state)) {
    io.err(`weir restore: ${state} exists; restore writes a new state database only [E_USAGE]\n`);
    return 2;
  }
  const ca = values.ca !== undefined ? readFileSync(values.ca as string) : undefined;
  const store = await (io.open ?? ((path: string) => WorkerStateStore.open({ path, synchronous: 'FULL' })))(state);
  let ok = false;
  try {
    const r = await restoreFromCloud(store, {
      endpoint, gatewayId: gateway, token, timer: systemTimer, clock: systemClock, ...(ca !== undefined ? { ca } : {}),
    }, systemClock.now());
    io.out(`${JSON.stringify({ restored: { gateway, ...r, state } })}\n`);
    ok = true;
    return 0;
  } catch (e) {
    const code = e instanceof UplinkError ? e.code : ((e as { code?: string }).code ?? 'E_UNKNOWN');
    io.err(`weir restore: ${(e as Error).message} [${code}]\n`);
    return 1;
  } finally {
    await store.close();
    if (!ok) for (const f of [state, `${state}-wal`, `${state}-shm`]) rmSync(f, { force: true });
  }
}
