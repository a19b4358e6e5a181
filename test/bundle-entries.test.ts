/**
 * The cloud service and the simulator as rollup bundles (what `npm run build`
 * and the release tarball ship): each runs a real command, not only --help.
 * weir-cloud once failed every command from the bundle (a top-level await
 * suspended the module before its inlined dynamic imports were defined),
 * while the same code ran fine from source.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

interface Run { code: number | null; stdout: string; stderr: string }
function spawnNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

describe('bundled weir-cloud and weir-sim run real commands', () => {
  // Inside the repository, so the native addon (external to the bundle) resolves from node_modules as on a board.
  let dir = '';
  before(() => {
    mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    dir = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'weir-bundle-entries-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const build = async (file: string): Promise<string> => {
    const b = await spawnNode(['node_modules/rollup/dist/bin/rollup', '-c', 'rollup.config.mjs', '--file', join(dir, file), '--silent'], { ...process.env, WEIR_BUILD_ONLY: file });
    assert.equal(b.code, 0, b.stderr);
    return join(dir, file);
  };

  test('weir-cloud gateway add writes a gateway into a new SQLite database and prints its token once', async () => {
    const bundle = await build('weir-cloud.mjs');
    const r = await spawnNode([bundle, 'gateway', 'add', 'gw-bundle', '--db', join(dir, 'cloud.db')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^weir_[A-Za-z0-9_-]{20,}\n$/);
    const again = await spawnNode([bundle, 'gateway', 'add', 'gw-bundle', '--db', join(dir, 'cloud.db')]);
    assert.equal(again.code, 1, 'the name is taken now');
  });

  test('weir-sim records a seeded fleet', async () => {
    const bundle = await build('weir-sim.mjs');
    const out = join(dir, 'fleet.ndjson');
    const r = await spawnNode([bundle, '--devices', 'env-sensor=2', '--duration', '30s', '--record', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const again = await spawnNode([bundle, '--devices', 'env-sensor=2', '--duration', '30s', '--record', join(dir, 'fleet2.ndjson'), '--quiet']);
    assert.equal(again.code, 0, again.stderr);
    const { readFileSync } = await import('node:fs');
    const a = readFileSync(out, 'utf8');
    assert.ok(a.split('\n').length > 10, 'readings were recorded');
    assert.equal(a, readFileSync(join(dir, 'fleet2.ndjson'), 'utf8'), 'the same seed gives the same readings');
  });
});
