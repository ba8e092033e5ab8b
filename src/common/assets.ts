/**
 * Bundled Lambda handler code: `assets/<fn>/index.js`, built by `npx projen bundle`.
 * `src/common/` (ts-jest) and `lib/common/` (after jsii) sit at the same depth, so one
 * relative path works from both.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** Absolute path of the asset folder of handler `assetName`; throws when it was not built. */
export function assetPath(assetName: string): string {
  const dir = path.join(__dirname, '..', '..', 'assets', assetName);
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`Lambda asset "${assetName}" not found at ${dir}: run \`npx projen bundle\` to build the handlers`);
  }
  return dir;
}

/** sha256 of the handler bundle's bytes: changes whenever the library's handler code changes. */
export function assetFingerprint(assetName: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(path.join(assetPath(assetName), 'index.js'))).digest('hex');
}
