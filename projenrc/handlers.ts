/**
 * The Lambda handlers of the library: every `lambda/<fn>/index.ts` (`lambda/shared` is code they
 * share), each bundled into `assets/<fn>/`. Discovered from the folders, so a new handler needs no
 * list to be updated.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Names of the handlers under `<root>/lambda`, sorted. */
export function handlerNames(root: string): string[] {
  const lambdaDir = path.join(root, 'lambda');
  return fs.readdirSync(lambdaDir)
    .filter((d) => d !== 'shared' && fs.existsSync(path.join(lambdaDir, d, 'index.ts')))
    .sort();
}

/** Source folders whose files go into handler `fn`'s bundle (its own and the shared code). */
export function handlerSourceDirs(root: string, fn: string): string[] {
  return [path.join(root, 'lambda', fn), path.join(root, 'lambda', 'shared')];
}
