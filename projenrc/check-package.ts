/**
 * `prepack` check: refuses to pack the npm package (`npm pack`, `npx projen package:js` and every
 * jsii-pacmak target, which pack it first) unless it holds what its constructs need at synth time:
 *
 * - `lib/` and `.jsii` compiled, not older than `src/` (otherwise: `npx projen compile`);
 * - for every handler `lambda/<fn>/index.ts`, its bundle `assets/<fn>/index.js`, not older than its
 *   sources (otherwise: `npx projen bundle`);
 * - every asset the constructs reference is one of those bundles. The referenced assets are found
 *   by synthesizing the example app, which composes every exported construct (checked here too),
 *   and collecting the library asset folders its Lambda code assets were staged from.
 *
 * Prints one line per problem and exits non-zero; on success one line with what it verified.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, AssetStaging } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';
import { handlerNames, handlerSourceDirs } from './handlers';
import { buildExampleApp } from '../examples/example-app';
import * as library from '../src';
import { libraryAssetOf } from '../src/common/assets';

const ROOT = path.join(__dirname, '..');

/** Newest modification time (ms) of the files under `dirs` whose names pass `filter`; 0 if none. */
function newestMtime(dirs: string[], filter: (file: string) => boolean = () => true): number {
  let newest = 0;
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      const file = path.join(entry.parentPath, entry.name);
      if (entry.isFile() && filter(file)) newest = Math.max(newest, fs.statSync(file).mtimeMs);
    }
  }
  return newest;
}

/** What is missing or out of date among the build outputs the package ships (lib/, .jsii, assets/). */
export function buildOutputProblems(root: string): string[] {
  const problems: string[] = [];
  const jsii = path.join(root, '.jsii');
  if (!fs.existsSync(path.join(root, 'lib', 'index.js')) || !fs.existsSync(jsii)) {
    problems.push('lib/ or .jsii is missing (the compiled library): run `npx projen compile` (or `npx projen build`)');
  } else if (newestMtime([path.join(root, 'src')], (f) => f.endsWith('.ts')) > fs.statSync(jsii).mtimeMs) {
    problems.push('lib/ is older than src/: run `npx projen compile` (or `npx projen build`)');
  }
  for (const fn of handlerNames(root)) {
    const bundle = path.join(root, 'assets', fn, 'index.js');
    if (!fs.existsSync(bundle)) {
      problems.push(`assets/${fn}/index.js is missing (the bundle of lambda/${fn}): run \`npx projen bundle\` (or \`npx projen build\`)`);
    } else if (newestMtime(handlerSourceDirs(root, fn)) > fs.statSync(bundle).mtimeMs) {
      problems.push(`assets/${fn}/index.js is older than its sources in lambda/: run \`npx projen bundle\` (or \`npx projen build\`)`);
    }
  }
  return problems;
}

/** The library handler assets the Lambda code assets under `scope` were staged from, with the functions using each. */
export function referencedLibraryAssets(scope: IConstruct): Map<string, string[]> {
  const referenced = new Map<string, string[]>();
  for (const staging of scope.node.findAll().filter((c): c is AssetStaging => c instanceof AssetStaging)) {
    const asset = libraryAssetOf(staging.sourcePath);
    if (asset === undefined) continue; // aws-cdk-lib's own handlers (providers, bucket notifications, …)
    const user = staging.node.scope?.node.scope?.node.path ?? staging.node.path; // Function <- Code (Asset) <- Stage
    referenced.set(asset, [...referenced.get(asset) ?? [], user]);
  }
  return referenced;
}

/** Exported construct classes of the library with no instance under `scope`. */
export function constructsNotComposed(scope: IConstruct): string[] {
  const all = scope.node.findAll();
  return Object.entries(library)
    .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Construct)
    .filter(([, cls]) => !all.some((c) => c instanceof (cls as new (...args: never[]) => Construct)))
    .map(([name]) => name);
}

/** The example app, synthesized into a temporary folder (removed again). */
export function withExampleApp<T>(use: (app: App) => T): T {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-package-check-'));
  try {
    const app = new App({ outdir });
    buildExampleApp(app);
    app.synth();
    return use(app);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function main(): void {
  const problems = buildOutputProblems(ROOT);
  if (problems.length === 0) {
    const handlers = handlerNames(ROOT);
    withExampleApp((app) => {
      for (const name of constructsNotComposed(app)) {
        problems.push(`${name} is not composed by the example app (examples/), so the assets it references cannot be checked: add it there`);
      }
      const referenced = referencedLibraryAssets(app);
      for (const [asset, users] of referenced) {
        if (!handlers.includes(asset)) problems.push(`${users.join(', ')} use asset "${asset}", which no lambda/${asset}/index.ts builds`);
      }
      if (problems.length === 0) {
        console.log(`package check: lib/ compiled; the constructs reference ${referenced.size} handler bundles (${[...referenced.keys()].sort().join(', ')}), all in assets/`);
      }
    });
  }
  if (problems.length > 0) {
    console.error(`package check: not packing, the package would be broken:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}

if (require.main === module) main();
