/**
 * npm run package -- [--arch x64|arm64|armv7l] [--with-node] [--out DIR]
 *
 * Makes the release tarball for one architecture, the one artifact to put on
 * a gateway: dist/weir-<version>-linux-<arch>.tar.gz (…-with-node.tar.gz with Node.js inside), holding
 *
 *   weir-<version>-linux-<arch>/
 *     bin/weir, bin/weir-sim, bin/weir-healthcheck   sh launchers
 *     lib/weir.mjs, lib/storage-worker.mjs, lib/weir-sim.mjs, lib/healthcheck.mjs
 *     node_modules/better-sqlite3 (lib/ + the addon for <arch>), bindings, file-uri-to-path
 *     node/bin/node                                   only with --with-node
 *     etc/gateway.yaml, etc/pipeline.yaml             defaults (install.sh never overwrites /etc/weir)
 *     systemd/weir.service, weir-health.service, weir-health.timer
 *     install.sh, README.md, BUILD, VERSION, SHA256SUMS
 *
 * The bundles are built with the repository's rollup.config.mjs (what `npm run
 * build` makes); the SQLite addon is the installed one for this machine's
 * architecture and is cross-compiled for the others (scripts/package-native.ts).
 * The tarball is reproducible: sorted, owned by root, mtime of the last commit.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { RollupOptions, OutputOptions } from 'rollup';
import { ARCHES, ARCH_INFO, ROOT, assertElfFor, betterSqlite3Version, hasCommand, hostArch, nodeDist, sqliteAddon, type Arch, type Log } from './package-native.ts';
import { SCHEMA_VERSION } from '../edge-runtime/state/schema.ts';

export interface PackageOptions {
  readonly arch: Arch;
  /** Ship Node.js itself (node/bin/node, ~85 MB unpacked) instead of requiring it on the board. */
  readonly withNode?: boolean;
  /** Where the tarball goes (default dist/). */
  readonly outDir?: string;
  readonly log?: Log;
}

export interface PackageResult {
  readonly tarball: string;
  /** The top folder inside the tarball: weir-<version>-linux-<arch>. */
  readonly name: string;
  readonly version: string;
  readonly tarballBytes: number;
  /** Sum of the file sizes once unpacked. */
  readonly unpackedBytes: number;
  readonly sha256: string;
  readonly build: Record<string, string>;
}

/** The bundles a gateway needs, by output file name in rollup.config.mjs. */
const BUNDLES = ['weir.mjs', 'storage-worker.mjs', 'weir-sim.mjs'];
/** Dependencies of better-sqlite3 used only by its install script. */
const INSTALL_ONLY = new Set(['prebuild-install']);
const PACKAGING = join(ROOT, 'packaging');

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function filesUnder(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) out.push(...filesUnder(p, base));
    else out.push(relative(base, p));
  }
  return out;
}

/** Bundles with the repository's own rollup config, writing into `libDir`. */
async function bundle(libDir: string): Promise<void> {
  const { rollup } = await import('rollup');
  const configs = ((await import(pathToFileURL(join(ROOT, 'rollup.config.mjs')).href)) as { default: RollupOptions[] }).default;
  for (const name of BUNDLES) {
    const cfg = configs.find((c) => basename(String((c.output as OutputOptions).file)) === name);
    if (!cfg) throw new Error(`rollup.config.mjs has no entry writing ${name} (is WEIR_BUILD_ONLY set?)`);
    const b = await rollup(cfg);
    try {
      await b.write({ ...(cfg.output as OutputOptions), file: join(libDir, name) });
    } finally {
      await b.close();
    }
  }
}

/** Copies a runtime dependency (package.json, code, licence; no tests, sources or build tree). */
function copyDependency(name: string, nodeModules: string, into: string, seen: Set<string>): void {
  if (seen.has(name) || INSTALL_ONLY.has(name)) return;
  seen.add(name);
  const from = join(nodeModules, name);
  const to = join(into, name);
  const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const skip = /^(\..*|test|tests|src|deps|build|docs|benchmark|binding\.gyp|README.*|History.*|CHANGELOG.*|.*\.d\.ts)$/i;
  cpSync(from, to, { recursive: true, filter: (p) => p === from || !skip.test(relative(from, p).split('/')[0]!) });
  for (const dep of Object.keys(pkg.dependencies ?? {})) copyDependency(dep, nodeModules, into, seen);
}

function gitCommit(): { sha: string; time: number } {
  const r = spawnSync('git', ['log', '-1', '--format=%H %ct'], { cwd: ROOT, encoding: 'utf8' });
  const [sha, time] = r.status === 0 ? r.stdout.trim().split(' ') : [];
  return { sha: sha ?? 'unknown', time: Number(time ?? 0) || 0 };
}

export async function buildPackage(opts: PackageOptions): Promise<PackageResult> {
  const log = opts.log ?? ((l: string) => void process.stderr.write(`package: ${l}\n`));
  const { arch } = opts;
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const name = `weir-${version}-linux-${arch}`;
  const outDir = opts.outDir ?? join(ROOT, 'dist');
  const stageRoot = join(outDir, `.stage-${arch}-${process.pid}`);
  const stage = join(stageRoot, name);
  rmSync(stageRoot, { recursive: true, force: true });
  mkdirSync(join(stage, 'lib'), { recursive: true });
  try {
    const addon = sqliteAddon(arch, log);
    log(`bundling ${BUNDLES.join(', ')} (rollup.config.mjs) …`);
    await bundle(join(stage, 'lib'));

    // The SQLite binding and what it requires at run time (bindings → file-uri-to-path).
    const nm = join(stage, 'node_modules');
    mkdirSync(nm, { recursive: true });
    copyDependency('better-sqlite3', join(ROOT, 'node_modules'), nm, new Set());
    const addonTo = join(nm, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(addonTo, '..'), { recursive: true });
    copyFileSync(addon.file, addonTo);
    chmodSync(addonTo, 0o755);
    // The symbol table is not needed to load it.
    const strip = `${ARCH_INFO[arch].triple}-strip`;
    if (hasCommand(strip)) spawnSync(strip, ['--strip-unneeded', addonTo], { stdio: 'inherit' });

    if (opts.withNode) {
      const dist = nodeDist(arch, log);
      if (dist.abi !== addon.abi) throw new Error(`--with-node: node-linux-${arch}@${dist.version} has ABI ${dist.abi}, the addon ${addon.abi}`);
      mkdirSync(join(stage, 'node', 'bin'), { recursive: true });
      copyFileSync(dist.bin, join(stage, 'node', 'bin', 'node'));
      copyFileSync(join(dist.dir, 'LICENSE'), join(stage, 'node', 'LICENSE'));
      if (hasCommand(strip)) spawnSync(strip, [join(stage, 'node', 'bin', 'node')], { stdio: 'inherit' });
      chmodSync(join(stage, 'node', 'bin', 'node'), 0o755);
    }

    // What the launcher, installer and service need.
    for (const dir of ['bin', 'etc', 'systemd']) cpSync(join(PACKAGING, dir), join(stage, dir), { recursive: true });
    copyFileSync(join(PACKAGING, 'lib', 'healthcheck.mjs'), join(stage, 'lib', 'healthcheck.mjs'));
    copyFileSync(join(PACKAGING, 'install.sh'), join(stage, 'install.sh'));
    copyFileSync(join(PACKAGING, 'README.md'), join(stage, 'README.md'));
    for (const f of readdirSync(join(stage, 'bin'))) chmodSync(join(stage, 'bin', f), 0o755);
    chmodSync(join(stage, 'install.sh'), 0o755);

    const commit = gitCommit();
    const build: Record<string, string> = {
      version,
      arch,
      node_major: addon.nodeVersion.split('.')[0]!,
      node_abi: String(addon.abi),
      node_headers: addon.nodeVersion,
      better_sqlite3: betterSqlite3Version(),
      addon: addon.source,
      state_schema: String(SCHEMA_VERSION),
      with_node: opts.withNode ? 'yes' : 'no',
      commit: commit.sha,
    };
    writeFileSync(join(stage, 'BUILD'), Object.entries(build).map(([k, v]) => `${k}=${v}\n`).join(''));
    writeFileSync(join(stage, 'VERSION'), `${version}\n`);
    assertElfFor(addonTo, arch);

    const files = filesUnder(stage);
    writeFileSync(join(stage, 'SHA256SUMS'), files.map((f) => `${sha256(join(stage, f))}  ${f}\n`).join(''));
    const unpackedBytes = [...files, 'SHA256SUMS'].reduce((a, f) => a + statSync(join(stage, f)).size, 0);

    mkdirSync(outDir, { recursive: true });
    const tarball = join(outDir, `${name}${opts.withNode ? '-with-node' : ''}.tar.gz`);
    const tar = spawnSync('tar', [
      '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${commit.time}`,
      '--use-compress-program=gzip -9n', '-cf', `${tarball}.tmp`, '-C', stageRoot, name,
    ], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    renameSync(`${tarball}.tmp`, tarball);
    const result: PackageResult = { tarball, name, version, tarballBytes: statSync(tarball).size, unpackedBytes, sha256: sha256(tarball), build };
    log(`${tarball}: ${(result.tarballBytes / 1e6).toFixed(2)} MB (${(unpackedBytes / 1e6).toFixed(2)} MB unpacked), sha256 ${result.sha256}`);
    return result;
  } finally {
    rmSync(stageRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string', default: hostArch() ?? 'x64' },
      'with-node': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('npm run package -- [--arch x64|arm64|armv7l] [--with-node] [--out DIR]\n');
    return;
  }
  if (!ARCHES.includes(values.arch as Arch)) throw new Error(`--arch must be one of ${ARCHES.join(', ')}, got ${values.arch}`);
  const r = await buildPackage({ arch: values.arch as Arch, withNode: values['with-node'], ...(values.out ? { outDir: values.out } : {}) });
  process.stdout.write(`${r.tarball}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`package: error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
