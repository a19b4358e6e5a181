// Bundles each entry point into one ESM file under dist/ that runs with plain
// `node` (no tsx, no TypeScript). JavaScript dependencies are bundled in;
// native addons (the SQLite binding, cbor-x's optional native extractor) stay
// external and are loaded from node_modules or the packaged addon folder.
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import esbuild from 'rollup-plugin-esbuild';
import resolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import json from '@rollup/plugin-json';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const NATIVE = ['better-sqlite3', 'cbor-extract', 'bufferutil', 'utf-8-validate'];
// Optional native modules required inside try/catch: leave the require() as it is (the banner's
// createRequire serves it at run time, and the caller copes when the module is absent).
const OPTIONAL_REQUIRES = ['node-aead-crypto'];
const external = (id) =>
  id.startsWith('node:') || builtinModules.includes(id) || NATIVE.some((n) => id === n || id.startsWith(n + '/'));

const entries = [
  { input: 'edge-runtime/cli/main.ts', file: 'dist/weir.mjs' },
  // The SQLite storage worker thread the gateway starts (WorkerStateStore looks for it beside weir.mjs).
  { input: 'edge-runtime/state/storage-worker.ts', file: 'dist/storage-worker.mjs' },
  { input: 'cloud-sync/cli.ts', file: 'dist/weir-cloud.mjs' },
  { input: 'firmware-sim/cli.ts', file: 'dist/weir-sim.mjs' },
];

// WEIR_BUILD_ONLY=weir.mjs builds one entry (tests bundle the CLI alone into a temporary folder).
const only = process.env.WEIR_BUILD_ONLY;
const selected = only ? entries.filter((e) => e.file.endsWith('/' + only)) : entries;

export default selected.map(({ input, file }) => ({
  input,
  external,
  output: {
    file,
    format: 'es',
    banner: '#!/usr/bin/env node\n' + `// weir ${pkg.version} — bundled; built from the repository with npm run build.\n` +
      "import { createRequire as __weirCreateRequire } from 'node:module'; const require = __weirCreateRequire(import.meta.url);",
    sourcemap: false,
    inlineDynamicImports: true,
  },
  onwarn(w, warn) {
    if (w.code === 'CIRCULAR_DEPENDENCY' && /node_modules/.test(w.message)) return;
    warn(w);
  },
  plugins: [
    resolve({ preferBuiltins: true, exportConditions: ['node'] }),
    commonjs({ ignoreDynamicRequires: true, ignore: OPTIONAL_REQUIRES }),
    json(),
    esbuild({ target: 'node20', loaders: { '.ts': 'ts' } }),
  ],
}));
