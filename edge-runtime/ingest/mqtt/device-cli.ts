/**
 * `weir device …`: manage the hashed device credentials of the embedded
 * broker. The lead's CLI calls `runDeviceCommand(argv.slice(1), io)`.
 *
 *   weir device add ID [--credentials FILE] [--replace] [--secret-stdin]
 *   weir device remove ID [--credentials FILE]
 *   weir device list [--credentials FILE]
 *
 * `add` generates a random secret (unless --secret-stdin), stores only its
 * scrypt hash, and prints the secret once on stdout — alone on its line, so
 * `SECRET=$(weir device add env-0001)` works; the explanation goes to stderr.
 * The device connects with username = its id, password = the secret.
 */
import { parseArgs } from 'node:util';
import { CredentialsFile } from './credentials-file.ts';
import { isMqttIngestError } from './mqtt-errors.ts';

export const DEVICE_USAGE = `Usage:
  weir device add ID [--credentials FILE] [--replace] [--secret-stdin]
      Create credentials for device ID; prints its secret once (stdout).
      --replace rotates an existing device's secret; --secret-stdin reads the
      secret from stdin instead of generating one (at least 8 characters).
  weir device remove ID [--credentials FILE]
  weir device list [--credentials FILE]
Only a salted scrypt hash of each secret is stored (FILE, mode 0600).
`;

export interface DeviceCliIo {
  out(line: string): void;
  err(line: string): void;
  /** Reads the secret for --secret-stdin. */
  readSecret?(): Promise<string>;
}

/** Returns the exit code: 0 ok, 1 failed, 2 bad usage. */
export async function runDeviceCommand(argv: readonly string[], io: DeviceCliIo, defaults: { credentialsPath?: string } = {}): Promise<number> {
  let values: { credentials?: string | undefined; replace?: boolean | undefined; 'secret-stdin'?: boolean | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { credentials: { type: 'string' }, replace: { type: 'boolean' }, 'secret-stdin': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.err(`weir device: ${(e as Error).message}\n${DEVICE_USAGE}`);
    return 2;
  }
  const [cmd, id, ...extra] = positionals;
  if (values.help === true) {
    io.out(DEVICE_USAGE);
    return 0;
  }
  const path = values.credentials ?? defaults.credentialsPath;
  const needsId = cmd === 'add' || cmd === 'remove';
  if (cmd === undefined || !['add', 'remove', 'list'].includes(cmd) || (needsId && id === undefined) || (!needsId && id !== undefined) || extra.length > 0) {
    io.err(DEVICE_USAGE);
    return 2;
  }
  if (path === undefined) {
    io.err('weir device: give --credentials FILE');
    return 2;
  }
  try {
    if (cmd === 'list') {
      for (const d of CredentialsFile.load(path).ids()) io.out(d);
      return 0;
    }
    const file = CredentialsFile.load(path, { createIfMissing: cmd === 'add' });
    if (cmd === 'remove') {
      if (!file.remove(id!)) {
        io.err(`weir device: no credentials for device ${id}`);
        return 1;
      }
      file.save();
      io.err(`device ${id} removed from ${path}`);
      return 0;
    }
    let secret: string | undefined;
    if (values['secret-stdin'] === true) {
      if (io.readSecret === undefined) {
        io.err('weir device: --secret-stdin is not available here');
        return 2;
      }
      secret = (await io.readSecret()).trim();
    }
    const issued = await file.add(id!, { replace: values.replace === true, ...(secret === undefined ? {} : { secret }) });
    file.save();
    if (secret === undefined) {
      io.err(`device ${id} added to ${path}. Its secret follows; it is shown only this once (only a hash is stored):`);
      io.out(issued);
    } else {
      io.err(`device ${id} added to ${path} with the secret read from stdin (only a hash is stored).`);
    }
    return 0;
  } catch (e) {
    if (isMqttIngestError(e)) {
      io.err(`weir device: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
