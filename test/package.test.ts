/**
 * The npm package: packed once (`npx projen compile`, then `npm pack`, whose `prepack` check runs)
 * and unpacked; it must hold, file for file, every handler bundle the constructs reference, as
 * found by synthesizing the example app (which composes every exported construct). Also: the
 * `prepack` check's verdicts, and the error a consumer of a broken package sees.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildOutputProblems, constructsNotComposed, referencedLibraryAssets, withExampleApp } from '../projenrc/check-package';
import { assetPath } from '../src/common/assets';

const ROOT = path.join(__dirname, '..');

/** Paths of the files under `dir`, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('the packed npm package', () => {
  let scratch: string;
  let unpacked: string;
  let packedFiles: string[];
  let referenced: Map<string, string[]>;
  let notComposed: string[];

  beforeAll(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-package-test-'));
    // lib/ from the current src/ (the test task has just bundled assets/), then the documented pack.
    execFileSync('npx', ['projen', 'compile'], { cwd: ROOT, stdio: 'pipe' });
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [result] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = result.files.map((f) => f.path);
    execFileSync('tar', ['-xzf', path.join(scratch, result.filename), '-C', scratch]);
    unpacked = path.join(scratch, 'package');
    withExampleApp((app) => {
      referenced = referencedLibraryAssets(app);
      notComposed = constructsNotComposed(app);
    });
  }, 600_000);

  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test('the example app composes every exported construct, so every construct\'s assets are found', () => {
    expect(notComposed).toEqual([]);
    expect(referenced.size).toBeGreaterThan(0);
  });

  test('holds every handler bundle the constructs reference, file for file as bundled', () => {
    const problems: string[] = [];
    for (const [asset, users] of referenced) {
      const built = path.join(ROOT, 'assets', asset);
      const files = filesUnder(built);
      expect(files).toContain('index.js');
      for (const file of files) {
        const shipped = path.join(unpacked, 'assets', asset, file);
        if (!fs.existsSync(shipped)) problems.push(`assets/${asset}/${file} (used by ${users[0]}) is not in the tarball`);
        else if (!fs.readFileSync(shipped).equals(fs.readFileSync(path.join(built, file)))) problems.push(`assets/${asset}/${file} differs from the bundle`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('holds the compiled library and its jsii assembly, and none of the sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['lib/index.js', 'lib/index.d.ts', '.jsii', 'package.json', 'README.md']));
    expect(packedFiles.filter((f) => /^(src|lambda|test|examples|projenrc)\//.test(f))).toEqual([]);
  });
});

describe('the prepack check', () => {
  let root: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-package-check-test-'));
    for (const dir of ['lambda/worker', 'lambda/shared', 'src']) fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, 'lambda/worker/index.ts'), 'export const handler = 1;');
    fs.writeFileSync(path.join(root, 'src/index.ts'), 'export {};');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Writes `file` under the root with a modification time `ageSeconds` in the past. */
  function write(file: string, ageSeconds: number): void {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), 'x');
    const t = new Date(Date.now() - ageSeconds * 1000);
    fs.utimesSync(path.join(root, file), t, t);
  }

  test('refuses a tree with neither lib/ nor the bundles (`npx projen compile` alone bundles nothing)', () => {
    expect(buildOutputProblems(root)).toEqual([
      expect.stringMatching(/^lib\/ or \.jsii is missing.*npx projen compile/),
      expect.stringMatching(/^assets\/worker\/index\.js is missing.*npx projen bundle/),
    ]);
  });

  test('refuses bundles and a library older than their sources', () => {
    write('lib/index.js', 100);
    write('.jsii', 100);
    write('assets/worker/index.js', 100);
    expect(buildOutputProblems(root)).toEqual([
      expect.stringMatching(/^lib\/ is older than src\//),
      expect.stringMatching(/^assets\/worker\/index\.js is older than its sources/),
    ]);
  });

  test('accepts current build outputs', () => {
    write('src/index.ts', 100);
    write('lambda/worker/index.ts', 100);
    write('lib/index.js', 0);
    write('.jsii', 0);
    write('assets/worker/index.js', 0);
    expect(buildOutputProblems(root)).toEqual([]);
  });
});

test('a consumer of a package without a bundle is told the package is broken and where to report it', () => {
  expect(() => assetPath('no-such-handler')).toThrow(
    /handler bundle "no-such-handler" is missing from the installed package cdk-serverless-data-pipeline@.*This package is broken.*report it at https:\/\/github\.com\/\S+\/issues/);
  expect(() => assetPath('no-such-handler')).not.toThrow(/projen/);
});
