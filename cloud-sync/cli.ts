import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createCloudSync } from './app.ts';
import { listen } from './server.ts';
import { openStorage } from './storage/open-storage.ts';
import { hashToken, newToken } from './auth.ts';
import { CloudError, isCloudError } from './errors.ts';
import { jsonLogger, type LogLevel } from './log.ts';
import { WIRE_VERSION, GATEWAY_ID_PATTERN } from './protocol.ts';

const HELP = `weir-cloud — the cloud side of weir: receives gateway batches, answers queries

Usage:
  weir-cloud serve [--db FILE] [--host HOST] [--port PORT] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]
      Serve the sync API (default 127.0.0.1:8787). Storage: PostgreSQL when DATABASE_URL
      is set, else the SQLite file --db (default ./weir-cloud.db). SIGTERM/SIGINT shut down
      gracefully (requests in flight finish, then storage closes).
  weir-cloud gateway add NAME [--db FILE]
      Create gateway NAME and print its token on stdout, once. Only its SHA-256 is stored.
  weir-cloud gateway token NAME [--db FILE]
      Another token for an existing gateway (e.g. its replacement hardware), printed once.
  weir-cloud reader add NAME [--db FILE]
      A read-only token for the query API, printed once.
  weir-cloud --help | --version

Exit codes: 0 ok; 1 failed (storage, name taken, ...); 2 bad usage.
`;

class UsageError extends CloudError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

function storageOptions(db: string | undefined): { databaseUrl: string | undefined; sqlitePath: string } {
  return { databaseUrl: process.env.DATABASE_URL, sqlitePath: db ?? 'weir-cloud.db' };
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
      'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'log-level': { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? 8787 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${values.port}`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('give both --tls-cert and --tls-key, or neither');
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError('--log-level must be debug, info, warn or error');
  const logger = jsonLogger({ level });
  const tls = values['tls-cert'] !== undefined
    ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!) }
    : undefined;
  const storage = await openStorage(storageOptions(values.db));
  const app = createCloudSync({ storage, logger });
  const server = await listen(app, { port, host: values.host ?? '127.0.0.1', logger, ...(tls !== undefined ? { tls } : {}) });
  process.stdout.write(`weir-cloud listening on ${server.url} (${storage.backend})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void server.close().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}

async function credential(kind: 'gateway' | 'reader', argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, options: { db: { type: 'string' } }, allowPositionals: true, strict: true });
  const ok = kind === 'gateway' ? sub === 'add' || sub === 'token' : sub === 'add';
  if (!ok) throw new UsageError(kind === 'gateway' ? 'use: weir-cloud gateway add|token NAME' : 'use: weir-cloud reader add NAME');
  const name = positionals[0];
  if (name === undefined || positionals.length !== 1) throw new UsageError(`give exactly one NAME`);
  if (!GATEWAY_ID_PATTERN.test(name)) throw new UsageError(`NAME must match ${GATEWAY_ID_PATTERN} (it is the gateway id on the wire)`);
  const storage = await openStorage(storageOptions(values.db));
  try {
    const token = newToken();
    if (kind === 'reader') await storage.addReader(name, hashToken(token), Date.now());
    else if (sub === 'add') await storage.addGateway(name, hashToken(token), Date.now());
    else await storage.addGatewayToken(name, hashToken(token), Date.now());
    process.stdout.write(`${token}\n`);
    process.stderr.write(`weir-cloud: ${kind} ${name}: token printed above; it is shown only this once (${storage.backend} stores its SHA-256)\n`);
  } finally {
    await storage.close();
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined: case '-h': case '--help': case 'help':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      case '-v': case '--version':
        process.stdout.write(`weir-cloud (wire protocol v${WIRE_VERSION})\n`);
        return 0;
      case 'serve':
        return await serve(rest);
      case 'gateway':
        return await credential('gateway', rest);
      case 'reader':
        return await credential('reader', rest);
      default:
        throw new UsageError(`unknown command ${cmd}; see weir-cloud --help`);
    }
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE';
    const code = isCloudError(e) ? e.code : usage ? 'E_USAGE' : ((e as { code?: string }).code ?? 'E_INTERNAL');
    process.stderr.write(`weir-cloud: ${(e as Error).message} [${code}]\n`);
    return usage ? 2 : 1;
  }
}

// Not a top-level await: in the rollup bundle that suspends this module before the
// inlined targets of its dynamic imports are defined, and every command failed.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
