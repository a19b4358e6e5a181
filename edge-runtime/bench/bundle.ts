/** Bundles a TypeScript entry into one ESM file for plain `node` (rollup, as `npm run build` does). */
import { builtinModules } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { rollup, type Plugin } from 'rollup';
import esbuildPlugin from 'rollup-plugin-esbuild';
import * as resolvePlugin from '@rollup/plugin-node-resolve';
import commonjsPlugin from '@rollup/plugin-commonjs';
import jsonPlugin from '@rollup/plugin-json';

const NATIVE = ['better-sqlite3', 'cbor-extract'];
// These packages are CommonJS-typed: under NodeNext their default export sits on `.default`.
const call = <O>(m: unknown): ((o?: O) => Plugin) => ((m as { default?: unknown }).default ?? m) as (o?: O) => Plugin;

/**
 * Writes the bundle to `file`; put it under the repository (e.g. node_modules/.cache) so that the
 * native addons it leaves external resolve from node_modules.
 */
export async function bundleForNode(input: string, file: string): Promise<void> {
  const b = await rollup({
    input,
    external: (id) => id.startsWith('node:') || builtinModules.includes(id) || NATIVE.some((n) => id === n || id.startsWith(n + '/')),
    plugins: [
      resolvePlugin.nodeResolve({ preferBuiltins: true }),
      call<{ ignoreDynamicRequires: boolean }>(commonjsPlugin)({ ignoreDynamicRequires: true }),
      call(jsonPlugin)(),
      call<{ target: string }>(esbuildPlugin)({ target: 'node20' }),
    ],
    onwarn: () => {},
  });
  mkdirSync(dirname(file), { recursive: true });
  await b.write({ file, format: 'es', banner: "import { createRequire as __c } from 'node:module'; const require = __c(import.meta.url);" });
  await b.close();
}
