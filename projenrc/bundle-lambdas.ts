/**
 * Bundles every Lambda handler `lambda/<fn>/index.ts` into `assets/<fn>/index.js` with esbuild
 * (minified, source map, for Node.js 22 and later — MIN_NODE_MAJOR of src/common/lambda-tuning.ts, the oldest runtime `lambdaTuning.runtime` accepts — CommonJS, AWS SDK v3 clients from the runtime), copies the files a bundle loads at runtime next
 * to it, then enforces the size budgets: 1 MB per JavaScript bundle, 5 MB per asset folder.
 *
 * Functions are discovered when this runs (not when projen synthesizes), so a new handler folder
 * needs no change here. `npx projen bundle [fn ...]` bundles only the named functions.
 */
import * as fs from 'fs';
import * as path from 'path';
import { build } from 'esbuild';
import { handlerNames } from './handlers';
import { MIN_NODE_MAJOR } from '../src/common/node-runtime';

const root = path.join(__dirname, '..');
const lambdaDir = path.join(root, 'lambda');
const assetsDir = path.join(root, 'assets');
const MAX_BUNDLE_BYTES = 1024 * 1024;
const MAX_FOLDER_BYTES = 5 * 1024 * 1024;

/** Files a bundle loads at runtime from its own folder (esbuild cannot inline them). */
const RUNTIME_FILES: Record<string, string[]> = {
  'analytics-api': ['node_modules/libpg-query/wasm/libpg-query.wasm'], // the real PostgreSQL parser (WASM)
  'async-job-workflow': ['node_modules/libpg-query/wasm/libpg-query.wasm'], // the operations' SQL guard (custom_complex_query)
};

/**
 * Scripts the constructs run at synth in a child Node.js process (shipped in the npm package, so
 * they work from every jsii language): `assets/synth-checks/<name>.js`, no source map.
 */
const SYNTH_SCRIPTS: Record<string, { entry: string; runtimeFiles: string[] }> = {
  // The API's SQL guard on user-defined operations (the parser is WebAssembly, loaded asynchronously).
  'check-user-operations': { entry: 'lambda/analytics-api/check-user-operations.ts', runtimeFiles: RUNTIME_FILES['analytics-api'] },
};
const SYNTH_SCRIPTS_DIR = path.join(assetsDir, 'synth-checks');

function folderBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const p = path.join(dir, entry.name);
    return sum + (entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size);
  }, 0);
}

async function bundle(fn: string): Promise<string[]> {
  const outdir = path.join(assetsDir, fn);
  fs.rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [path.join(lambdaDir, fn, 'index.ts')],
    outfile: path.join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: `node${MIN_NODE_MAJOR}`,
    format: 'cjs',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    // The Node.js runtimes ship the AWS SDK v3 service clients: using them keeps bundles small
    // and cold starts short. The helper libraries (lib-storage, lib-dynamodb, the presigner) are
    // bundled, since the runtime is not documented to ship them. Locally, node_modules provides all.
    external: ['@aws-sdk/client-*'],
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const file of RUNTIME_FILES[fn] ?? []) {
    fs.copyFileSync(path.join(root, file), path.join(outdir, path.basename(file)));
  }
  const bundleBytes = fs.statSync(path.join(outdir, 'index.js')).size;
  const folder = folderBytes(outdir);
  console.log(`asset ${fn}: bundle ${(bundleBytes / 1024).toFixed(0)} KB, folder ${(folder / 1024).toFixed(0)} KB`);
  const failures: string[] = [];
  if (bundleBytes > MAX_BUNDLE_BYTES) failures.push(`${fn}: index.js is ${bundleBytes} bytes (budget ${MAX_BUNDLE_BYTES})`);
  if (folder > MAX_FOLDER_BYTES) failures.push(`${fn}: asset folder is ${folder} bytes (budget ${MAX_FOLDER_BYTES})`);
  return failures;
}

async function bundleSynthScripts(): Promise<void> {
  fs.rmSync(SYNTH_SCRIPTS_DIR, { recursive: true, force: true });
  for (const [name, script] of Object.entries(SYNTH_SCRIPTS)) {
    await build({
      entryPoints: [path.join(root, script.entry)],
      outfile: path.join(SYNTH_SCRIPTS_DIR, `${name}.js`),
      bundle: true,
      platform: 'node',
      target: 'node18',
      format: 'cjs',
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    for (const file of script.runtimeFiles) fs.copyFileSync(path.join(root, file), path.join(SYNTH_SCRIPTS_DIR, path.basename(file)));
  }
  console.log(`synth scripts: ${Object.keys(SYNTH_SCRIPTS).join(', ')} (folder ${(folderBytes(SYNTH_SCRIPTS_DIR) / 1024).toFixed(0)} KB)`);
}

async function main(): Promise<void> {
  const all = handlerNames(root);
  const requested = process.argv.slice(2);
  const unknown = requested.filter((fn) => !all.includes(fn));
  if (unknown.length > 0) throw new Error(`No handler lambda/<fn>/index.ts for: ${unknown.join(', ')}`);
  const failures = (await Promise.all((requested.length > 0 ? requested : all).map(bundle))).flat();
  if (requested.length === 0 || requested.includes('analytics-api')) await bundleSynthScripts();
  if (failures.length > 0) {
    console.error(`Lambda asset size budget exceeded:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
