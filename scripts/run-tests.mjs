#!/usr/bin/env node
// Runs every *.test.ts in the repository with node's built-in test runner
// (TypeScript through tsx). Node 20's --test does not expand globs, so the
// files are listed here. Extra arguments are passed to node (e.g. a file list
// to run only those: `node scripts/run-tests.mjs edge-runtime/engine`).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const ROOTS = ['edge-runtime', 'cloud-sync', 'devices', 'firmware-sim', 'test'];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
let files = [];
for (const r of ROOTS) {
  try {
    walk(join(root, r), files);
  } catch {
    // a top-level folder without tests yet
  }
}
files = files.map((f) => relative(root, f)).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.startsWith(x)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const concurrency = process.env.WEIR_TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...flags, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, WEIR_TEST: '1' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
