/**
 * Builds the benchmark target the way weir ships (rollup + esbuild, the
 * repository's rollup.config.mjs: one ESM file for the process, one for the
 * storage worker), so the measured RSS is the gateway's and not tsx's (the
 * TypeScript loader adds ≈50 MB: its hooks thread and compile caches).
 * Output under node_modules/.cache/weir-bench/, where `better-sqlite3` and the
 * other native externals resolve from the repository's node_modules.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rollup, type RollupOptions, type OutputOptions } from 'rollup';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function bundleTarget(out = join(root, 'node_modules', '.cache', 'weir-bench')): Promise<{ target: string; worker: string }> {
  mkdirSync(out, { recursive: true });
  const configs = (await import(pathToFileURL(join(root, 'rollup.config.mjs')).href) as { default: (RollupOptions & { output: OutputOptions })[] }).default;
  const base = configs[0]!;
  const files = {
    target: join(out, 'bench-target.mjs'),
    worker: join(out, 'storage-worker.mjs'),
  };
  const jobs: [string, string][] = [
    [join(root, 'edge-runtime/bench/ingest/bench-target.ts'), files.target],
    [join(root, 'edge-runtime/state/storage-worker.ts'), files.worker],
  ];
  for (const [input, file] of jobs) {
    const b = await rollup({ ...base, input, onwarn: () => {} });
    await b.write({ ...base.output, file });
    await b.close();
  }
  return files;
}
