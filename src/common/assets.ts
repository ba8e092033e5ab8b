/**
 * Bundled Lambda handler code: `assets/<fn>/index.js`, built by `npx projen bundle` and shipped in
 * the npm package (a `prepack` check refuses to pack without it). `src/common/` (ts-jest) and
 * `lib/common/` (after jsii) sit at the same depth, so one relative path works from both.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';

const PACKAGE_ROOT = path.join(__dirname, '..', '..');
const ASSETS_DIR = path.join(PACKAGE_ROOT, 'assets');
/** Folder name of a bundle staged with its configuration (`assetWithConfig`): cdp-<asset>-<hash>. */
const STAGED_CONFIG_DIR = /^cdp-(.+)-[0-9a-f]{32}$/;

/** Absolute path of the asset folder of handler `assetName`; throws when the package lacks it. */
export function assetPath(assetName: string): string {
  const dir = path.join(ASSETS_DIR, assetName);
  if (!fs.existsSync(path.join(dir, 'index.js'))) throw new Error(missingAssetMessage(assetName, dir));
  return dir;
}

/**
 * The error a consumer sees when an installed copy of the library lacks a handler bundle: the
 * package itself is broken (it was packed without its assets), nothing in their app is wrong.
 */
function missingAssetMessage(assetName: string, dir: string): string {
  let pkg: { name?: string; version?: string; repository?: { url?: string } } = {};
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
  } catch {
    // no package.json next to the code: report without name and version
  }
  const name = `${pkg.name ?? 'cdk-serverless-data-pipeline'}@${pkg.version ?? 'unknown version'}`;
  const issues = (pkg.repository?.url ?? 'https://github.com/example/cdk-serverless-data-pipeline')
    .replace(/^git\+/, '').replace(/\.git$/, '') + '/issues';
  return `The Lambda handler bundle "${assetName}" is missing from the installed package ${name} `
    + `(expected ${path.join(dir, 'index.js')}). This package is broken: it was published without its `
    + `handler bundles, and nothing in your app can fix that. Please report it at ${issues} with the `
    + 'package version and how you installed it (npm, PyPI, Maven, NuGet or Go).';
}

/**
 * The library handler asset whose files an asset source folder holds: `assets/<name>` itself, or
 * a copy staged with its configuration by `assetWithConfig`. Undefined for any other folder (e.g.
 * the handlers of aws-cdk-lib's own custom resources).
 */
export function libraryAssetOf(sourcePath: string): string | undefined {
  const inAssets = path.relative(ASSETS_DIR, sourcePath);
  if (inAssets !== '' && !inAssets.startsWith('..') && !path.isAbsolute(inAssets)) return inAssets.split(path.sep)[0];
  const staged = STAGED_CONFIG_DIR.exec(path.basename(sourcePath));
  return staged && path.dirname(sourcePath) === os.tmpdir() ? staged[1] : undefined;
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
  const staged = path.join(os.tmpdir(), `cdp-${assetName}-${hash.digest('hex').slice(0, 32)}`); // STAGED_CONFIG_DIR
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
