/**
 * Bundled Lambda handler code: `assets/<fn>/index.js`, built by `npx projen bundle`.
 * `src/common/` (ts-jest) and `lib/common/` (after jsii) sit at the same depth, so one
 * relative path works from both.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';

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

/**
 * The handler bundle plus one configuration file next to it (e.g. the ingestion's sources.json),
 * staged at synth in a folder named by its content hash, so the asset changes exactly when the code
 * or the configuration does and the configuration travels with the code it was written for.
 */
export function assetWithConfig(assetName: string, fileName: string, config: unknown): lambda.Code {
  const bundleDir = assetPath(assetName);
  const json = JSON.stringify(config, null, 2);
  const files = fs.readdirSync(bundleDir).sort();
  const hash = crypto.createHash('sha256');
  for (const f of files) hash.update(f).update(fs.readFileSync(path.join(bundleDir, f)));
  hash.update(fileName).update(json);
  const staged = path.join(os.tmpdir(), `cdp-${assetName}-${hash.digest('hex').slice(0, 32)}`);
  if (!fs.existsSync(path.join(staged, fileName))) {
    const tmp = fs.mkdtempSync(`${staged}-tmp-`);
    for (const f of files) fs.copyFileSync(path.join(bundleDir, f), path.join(tmp, f));
    fs.writeFileSync(path.join(tmp, fileName), json);
    try {
      fs.renameSync(tmp, staged);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // staged concurrently by another synth
    }
  }
  return lambda.Code.fromAsset(staged);
}
