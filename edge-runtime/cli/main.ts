import { parseArgs } from 'node:util';
import { readFileSync, statSync } from 'node:fs';
import { LineWriter } from './line-writer.ts';
import { parsePipelineFile } from '../pipeline/parse.ts';
import { replay } from '../replay/replay.ts';
import { WeirError, isWeirError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { loadGatewayConfig } from '../config/gateway-config.ts';
import { Gateway } from '../gateway/gateway.ts';
import { defaultServices } from '../gateway/services.ts';
import { jsonLogger, type LogLevel } from '../log.ts';
import { RESTORE_HELP, restoreCommand } from '../uplink/restore-command.ts';
import { DEVICE_USAGE, runDeviceCommand } from '../ingest/mqtt/index.ts';
import { DEMO_HELP, runDemo } from '../demo/demo.ts';

const HELP = `weir ${VERSION} — edge stream processor

Usage:
${DEMO_HELP.trimEnd()}
  weir run --config FILE
      Run the gateway: durable ingest log, pipelines, checkpoints, and the
      transports and services the config file turns on. SIGTERM or SIGINT
      stops it cleanly (a final checkpoint). A bad config stops it at once,
      naming the field (exit 2).
  ${RESTORE_HELP.trim().split('\n').join('\n  ')}
${DEVICE_USAGE.split('\n').slice(1).join('\n').trimEnd()}
  weir replay --pipeline FILE --input FILE [--output FILE] [--format ndjson|csv] [--strict] [--quiet]
      Run the pipelines of FILE (YAML or JSON) over recorded readings and write
      every result as one JSON object per line (stdout unless --output).
      Malformed input lines are reported on stderr with their line number,
      counted and skipped; --strict stops at the first one (exit 1).
  weir --help | --version

Exit codes: 0 ok; 1 bad input under --strict or an I/O failure; 2 bad usage or a bad pipeline file.
`;

async function cmdReplay(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', short: 'p' },
      input: { type: 'string', short: 'i' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      strict: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
    strict: true,
  });
  if (!values.pipeline) throw new WeirError('E_USAGE', 'replay needs --pipeline FILE');
  if (!values.input) throw new WeirError('E_USAGE', 'replay needs --input FILE');
  if (values.format !== undefined && values.format !== 'ndjson' && values.format !== 'csv') {
    throw new WeirError('E_USAGE', `--format must be ndjson or csv, got ${values.format}`);
  }
  let text: string;
  try {
    text = readFileSync(values.pipeline, 'utf8');
  } catch (e) {
    throw new WeirError('E_IO', `cannot read pipeline file ${values.pipeline}: ${(e as Error).message}`, { cause: e });
  }
  const plans = parsePipelineFile(text, values.pipeline);
  // Check the input before opening (and truncating) the output, so a typo does not wipe earlier results.
  try {
    if (!statSync(values.input).isFile()) throw new Error('not a regular file');
  } catch (e) {
    throw new WeirError('E_IO', `cannot read ${values.input}: ${(e as Error).message}`, { cause: e });
  }
  const out = values.output ? await LineWriter.file(values.output) : LineWriter.stdout();
  const summary = await replay({
    plans,
    input: values.input,
    ...(values.format ? { format: values.format as 'ndjson' | 'csv' } : {}),
    strict: values.strict,
    emit: (o) => out.line(JSON.stringify(o)),
    onBad: (e) => {
      if (!values.quiet) process.stderr.write(`weir: ${values.input}: ${e.message} [${e.code}]\n`);
    },
  });
  await out.close();
  if (!values.quiet) process.stderr.write(`weir: ${JSON.stringify({ summary })}\n`);
  return 0;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' } },
    strict: true,
  });
  if (!values.config) throw new WeirError('E_USAGE', 'run needs --config FILE (see edge-runtime/samples/gateway.yaml)');
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new WeirError('E_USAGE', `--log-level must be debug, info, warn or error`);
  const logger = jsonLogger({ level });
  const config = loadGatewayConfig(values.config);
  // Signals are handled from the start: one that arrives while the gateway starts stops it right after.
  let signalled: (sig: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  const onTerm = (): void => signalled('SIGTERM');
  const onInt = (): void => signalled('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    const gateway = await Gateway.start(config, { logger, services: defaultServices() });
    const sig = await stopped;
    logger.log('info', 'stopping', { signal: sig });
    await gateway.stop();
    return 0;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      case '-v':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case 'replay':
        return await cmdReplay(rest);
      case 'run':
        return await cmdRun(rest);
      case 'restore':
        return await restoreCommand(rest);
      case 'demo':
        return await runDemo(rest);
      case 'device':
        return await runDeviceCommand(rest, {
          out: (t) => void process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
          err: (t) => void process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
        });
      default:
        throw new WeirError('E_USAGE', `unknown command ${JSON.stringify(cmd)} (try weir --help)`);
    }
  } catch (e) {
    if (isWeirError(e)) {
      process.stderr.write(`weir: error ${e.code}: ${e.message}\n`);
      return e.code === 'E_CONFIG' || e.code === 'E_USAGE' ? 2 : 1;
    }
    // Storage errors (also those re-raised from the storage worker) carry a stable E_ code too:
    // report them like ours, not as an internal error with a stack (e.g. E_STATE_SCHEMA_NEWER).
    const code = (e as { code?: unknown }).code;
    if (e instanceof Error && typeof code === 'string' && /^E_[A-Z0-9_]+$/.test(code)) {
      process.stderr.write(`weir: error ${code}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`weir: error E_USAGE: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`weir: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);
