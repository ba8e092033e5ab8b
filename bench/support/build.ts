/**
 * A build of this library as the benchmarks' A/B comparisons use it: a checkout (this one, or
 * another worktree such as one at an earlier commit) with its handlers bundled (`npx projen
 * bundle`). Its migrations, migration runner, operations and source definitions are its own
 * TypeScript, loaded through ts-node from its directory; its handlers are its own bundles.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

type Migrations = typeof import('../../lambda/canonical-store/migrations');
type Runner = typeof import('../../lambda/canonical-store/runner');
type Operations = typeof import('../../lambda/analytics-api/operations');
type Validation = typeof import('../../lambda/analytics-api/validation');
type Upsert = typeof import('../../lambda/shared/canonical-upsert');
type SourceConfig = typeof import('../../src/ingestion-pipeline/source-config');
type BuiltIns = typeof import('../../src/ingestion-pipeline/built-in-sources');

/** This checkout. */
export const THIS_BUILD = path.join(__dirname, '..', '..');

/**
 * The last migration of the storage layout from before typed storage (issue 18): the benchmarks
 * write their bulk data at this layout, as ingestion wrote it, and let the build's later
 * migrations (its backfill) convert it.
 */
export const PRE_TYPED_LAST_MIGRATION = '0003_source_id_normalization';

export interface Build {
  readonly dir: string;
  /** The commit, with "+ uncommitted changes" when the work tree differs from it. */
  readonly description: string;
  readonly migrations: Migrations['LIBRARY_MIGRATIONS'];
  readonly migrate: Runner['migrate'];
  readonly getOperation: Operations['getOperation'];
  readonly validateParameters: Validation['validateParameters'];
  readonly contentHash: Upsert['contentHash'];
  readonly renderSourcesConfig: SourceConfig['renderSourcesConfig'];
  readonly builtInSources: BuiltIns['BuiltInSources'];
  /** The bundled handlers. */
  readonly analyticsApiBundle: string;
  readonly ingestionBundle: string;
}

function describe(dir: string): string {
  try {
    const commit = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `${commit}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

/** Loads the build in `dir` (its modules are loaded once per process: run one build per process). */
export function loadBuild(dir: string): Build {
  const root = path.resolve(dir);
  const need = (relative: string) => {
    const file = path.join(root, relative);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: is ${root} a checkout of this library, with \`npm ci\` and \`npx projen bundle\` run in it?`);
    return file;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = <T>(relative: string): T => require(path.join(root, relative)) as T;
  const analyticsApiBundle = need('assets/analytics-api/index.js');
  const ingestionBundle = need('assets/ingestion-pipeline/index.js');
  need('node_modules');
  return {
    dir: root,
    description: describe(root),
    migrations: load<Migrations>('lambda/canonical-store/migrations').LIBRARY_MIGRATIONS,
    migrate: load<Runner>('lambda/canonical-store/runner').migrate,
    getOperation: load<Operations>('lambda/analytics-api/operations').getOperation,
    validateParameters: load<Validation>('lambda/analytics-api/validation').validateParameters,
    contentHash: load<Upsert>('lambda/shared/canonical-upsert').contentHash,
    renderSourcesConfig: load<SourceConfig>('src/ingestion-pipeline/source-config').renderSourcesConfig,
    builtInSources: load<BuiltIns>('src/ingestion-pipeline/built-in-sources').BuiltInSources,
    analyticsApiBundle,
    ingestionBundle,
  };
}
