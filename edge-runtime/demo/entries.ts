import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the three programs are, and how to start them with this Node: the
 * one place that knows whether weir runs from the bundle (`npm run build`:
 * dist/weir.mjs, dist/weir-cloud.mjs, dist/weir-sim.mjs, plain node) or
 * from source (the .ts entry points through tsx's loader).
 *
 * Every child also gets a tiny preloaded watchdog: when its parent dies
 * (even by SIGKILL, where no exit handler runs) it is re-parented, notices
 * the new ppid and stops itself — SIGTERM, so a gateway still writes its
 * final checkpoint, then a hard exit if that hangs. No orphans.
 */
export type Program = 'weir' | 'weir-cloud' | 'weir-sim';

export interface Entry {
  /** The executable: this Node. */
  readonly command: string;
  /** Node flags and the entry file; the program's own arguments go after. */
  readonly args: readonly string[];
}

const here = dirname(fileURLToPath(import.meta.url));
/** True when this module was bundled into dist/*.mjs. */
export const fromBundle = import.meta.url.endsWith('.mjs') && basename(here) === 'dist';
/** The repository (or unpacked package) root: samples live under it. */
export const ROOT = fromBundle ? resolve(here, '..') : resolve(here, '..', '..');

const SOURCE: Record<Program, string> = {
  weir: 'edge-runtime/cli/main.ts',
  'weir-cloud': 'cloud-sync/cli.ts',
  'weir-sim': 'firmware-sim/cli.ts',
};

const WATCHDOG =
  'const p=process.ppid;const t=setInterval(()=>{if(process.ppid!==p){clearInterval(t);' +
  "try{process.kill(process.pid,'SIGTERM')}catch{}setTimeout(()=>process.exit(70),10000).unref()}},500);t.unref();";
const WATCHDOG_IMPORT = `data:text/javascript,${encodeURIComponent(WATCHDOG)}`;

export function entryFor(p: Program): Entry {
  if (fromBundle) return { command: process.execPath, args: ['--import', WATCHDOG_IMPORT, join(here, `${p}.mjs`)] };
  // --import tsx would be resolved from the child's working directory; give the loader's own URL.
  return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), '--import', WATCHDOG_IMPORT, join(ROOT, SOURCE[p])] };
}

/** The bundled sample configuration (gateway.yaml, pipeline.yaml) — present in a clone and in a built tree. */
export function samplePath(name: string): string {
  const p = join(ROOT, 'edge-runtime', 'samples', name);
  if (!existsSync(p)) throw new Error(`sample ${name} not found under ${join(ROOT, 'edge-runtime', 'samples')}`);
  return p;
}
