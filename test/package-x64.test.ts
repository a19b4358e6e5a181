/**
 * The release tarball for this machine's architecture (x64 in CI), built as
 * `npm run package` builds it and smoke-tested natively: install.sh into a
 * temporary root (idempotent, upgrade, rollback), `weir run` from the
 * installed tree with MQTT readings from here, SIGKILL and restart with its
 * state, every window exactly once, a newer state schema refused. The ARM
 * builds run the same smoke test under qemu: npm run verify:arm64 / verify:armv7l.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackage, type PackageResult } from '../scripts/package.ts';
import { hostArch } from '../scripts/package-native.ts';
import { runSmoke } from '../scripts/package-smoke.ts';
import { parseGatewayConfig } from '../edge-runtime/config/gateway-config.ts';
import { WEIR_MALLOC_ENV } from '../edge-runtime/bench/ingest/bench-procs.ts';

const ROOT = join(import.meta.dirname, '..');
const arch = hostArch() ?? 'x64';
const out = mkdtempSync(join(tmpdir(), 'weir-package-'));
let pkg: PackageResult;

before(async () => {
  pkg = await buildPackage({ arch, outDir: out, log: () => {} });
});
after(() => rmSync(out, { recursive: true, force: true }));

test('the tarball holds the bundles, the addon for this architecture, config, units and installer', () => {
  const list = spawnSync('tar', ['tzf', pkg.tarball], { encoding: 'utf8' }).stdout.split('\n');
  const n = pkg.name;
  for (const f of [
    'bin/weir', 'bin/weir-sim', 'lib/weir.mjs', 'lib/storage-worker.mjs', 'lib/weir-sim.mjs', 'lib/healthcheck.mjs',
    'node_modules/better-sqlite3/package.json', 'node_modules/better-sqlite3/lib/index.js', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    'node_modules/bindings/bindings.js', 'node_modules/file-uri-to-path/index.js',
    'etc/gateway.yaml', 'etc/pipeline.yaml', 'systemd/weir.service', 'systemd/weir-health.timer', 'install.sh', 'VERSION', 'BUILD', 'SHA256SUMS',
  ]) assert.ok(list.includes(`${n}/${f}`), `${f} in the tarball`);
  assert.ok(!list.some((f) => f.includes('prebuild-install') || f.endsWith('.cc') || f.includes('/deps/')), 'no install-time code or sources');
  assert.equal(pkg.build.arch, arch);
  assert.equal(pkg.build.node_abi, process.versions.modules);
  assert.ok(pkg.tarballBytes < 5e6, `small without node: ${pkg.tarballBytes} B`);
});

test('the default gateway config is valid and keeps state in /var/lib/weir', () => {
  const file = join(ROOT, 'packaging', 'etc', 'gateway.yaml');
  const c = parseGatewayConfig(readFileSync(file, 'utf8'), file);
  assert.equal(c.stateDir, '/var/lib/weir');
  assert.deepEqual(c.pipelines.map((p) => p.name), ['minute-stats', 'anomalies']);
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 9464 });
});

test('the benchmarks run weir with the malloc environment the systemd unit sets', () => {
  const unit = readFileSync(join(ROOT, 'packaging', 'systemd', 'weir.service'), 'utf8');
  const set = Object.fromEntries([...unit.matchAll(/^Environment="(MALLOC_[A-Z_]+)=([^"]*)"$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual(set, { ...WEIR_MALLOC_ENV });
});

test('the systemd units pass systemd-analyze verify', (t) => {
  if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) return t.skip('systemd-analyze is not installed');
  // ExecStart must exist for verify: point /opt/weir/current at the repository's packaging/ folder.
  const dir = mkdtempSync(join(tmpdir(), 'weir-units-'));
  try {
    const units = ['weir.service', 'weir-health.service', 'weir-health.timer'];
    for (const u of units) {
      writeFileSync(join(dir, u), readFileSync(join(ROOT, 'packaging', 'systemd', u), 'utf8').replaceAll('/opt/weir/current/', `${join(ROOT, 'packaging')}/`));
    }
    const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warnings');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('install, run, ingest over MQTT, SIGKILL, restart with state; schema guard', async () => {
  const r = await runSmoke({ tarball: pkg.tarball, node: process.execPath });
  assert.equal(r.windows, 14);
  assert.ok(r.recoveredFromCheckpoint >= 1);
});
