// Whether a build output is older than what it is built from (mtimes), for builds that run only
// when needed: the web app (scripts/build.ts) and the benchmark page (bench-browser.ts).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './wrangler.ts';

/** The newest mtime of `path`: a file's own, or a folder's newest below it (node_modules left out). */
export function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** True when `built` is missing or older than anything in `inputs` (paths under the repository). */
export function isStale(built: string, inputs: string[]): boolean {
  if (!existsSync(built)) return true;
  const newest = Math.max(
    ...inputs
      .map((p) => join(ROOT, p))
      .filter(existsSync)
      .map(newestMtime),
  );
  return newest > statSync(built).mtimeMs;
}
