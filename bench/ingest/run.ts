/**
 * Ingestion benchmark (not a test):
 *   npx ts-node --project tsconfig.dev.json bench/ingest/run.ts [--records N] [--batch-size B] [--format ndjson|json] [--baseline <dir>]
 *
 * Generates N synthetic CRM customers (~300 bytes of JSON each) as NDJSON (or, with `--format json`,
 * as one JSON array in a .json file, read by the streaming JSON reader), uploads them to s3rver,
 * and runs the real bundled handler (assets/ingestion-pipeline/index.js, in a child process so its peak RSS is
 * its own) against a durable local PostgreSQL (fsync on), migrated with the build's own migrations,
 * for: the first load, a forced re-ingest of the same content (all unchanged), and a file with 10%
 * of the records changed. Then times a plain COPY of the same rows into empty copies of the tables
 * of the storage layout from before typed storage (migrations up to 0003_source_id_normalization, in
 * a database of their own: the same reference for every build), with the same indexes (the
 * ceiling), and one-row-at-a-time upserts on a sample (the floor), and prints the ratios.
 *
 * `--baseline <dir>` (or BENCH_BASELINE=<dir>): before/after in one sitting. <dir> is another
 * checkout of this library (e.g. a worktree at an earlier commit, with `npm ci` and `npx projen
 * bundle` run in it): the whole run is made with its migrations and its bundled handler first, then
 * with this checkout's, each in a process of its own with its own freshly started PostgreSQL, S3,
 * Secrets Manager and EventBridge; then both side by side with the after/before ratios.
 * Load averages are printed at the start and end of each side. (`--side <dir>`: one side, internal.)
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=…" profiles the handler processes; BENCH_SKIP_BUNDLE=1
 * skips bundling this checkout's handler first.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { GroupRole } from '../../lambda/canonical-store/runner';
import { mapRecord } from '../../lambda/ingestion-pipeline/mapping';
import { contentHash } from '../../lambda/shared/canonical-upsert';
import { copyRow } from '../../lambda/shared/copy-text';
import { BuiltInSources } from '../../src/ingestion-pipeline/built-in-sources';
import { renderSourcesConfig } from '../../src/ingestion-pipeline/source-config';
import { LOGIN_USERS } from '../../test/support/canonical-db';
import { startLocalEventBridge } from '../../test/support/local-eventbridge';
import { startLocalPostgres } from '../../test/support/local-postgres';
import { startLocalS3 } from '../../test/support/local-s3';
import { startLocalSecretsManager } from '../../test/support/local-secrets-manager';
import { argsWithout, loadAverage, option, ratio, reportSide, runSide, table } from '../support/ab';
import { loadBuild, PRE_TYPED_LAST_MIGRATION, THIS_BUILD } from '../support/build';
import { hasTypedStorage, ingestionEnvironment, Invocation, invokeIngestion, invokeTypedRefresh, successEventOf } from '../support/ingestion-handler';

const BUCKET = 'raw-data';
const SOURCE = BuiltInSources.crmCustomers();
const INDUSTRIES = ['retail', 'manufacturing', 'software', 'energy', 'logistics', 'finance', 'healthcare', 'media'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE', 'PL', 'JP'];

function arg(name: string, fallback: number): number {
  const value = option(name);
  return value === undefined ? fallback : Number(value);
}

/** Customer i as one NDJSON line (~300 bytes); `variant` changes the lifetime value of 10% of them. */
function customerLine(i: number, variant: number): string {
  const changed = variant > 0 && i % 10 === 3;
  return `${JSON.stringify({
    customer_id: `C${String(i).padStart(8, '0')}`,
    name: `Customer ${i} ${INDUSTRIES[i % 8]} Holdings GmbH`,
    email: `customer.${i}@example-${i % 997}.com`,
    industry: INDUSTRIES[i % 8],
    country: COUNTRIES[i % 10],
    segment: ['enterprise', 'mid-market', 'smb'][i % 3],
    lifetime_value: Math.round(((i * 7919) % 1_000_000) * 100) / 100 + (changed ? 1 : 0),
    signup_date: `20${10 + (i % 14)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
    parent_customer_id: i % 10 === 0 && i > 0 ? `C${String(i - 10).padStart(8, '0')}` : null,
    updated_at: '2024-01-01T00:00:00Z',
    notes: 'synthetic benchmark record',
  })}\n`;
}

/** `--format json`: the same records as one JSON array (a `.json` file), else NDJSON. */
const FORMAT = option('format') ?? 'ndjson';
if (FORMAT !== 'ndjson' && FORMAT !== 'json') throw new Error(`--format must be ndjson or json, got ${FORMAT}`);

function* lines(n: number, variant: number): Generator<string> {
  let chunk = FORMAT === 'json' ? '[' : '';
  for (let i = 0; i < n; i++) {
    chunk += (FORMAT === 'json' && i > 0 ? ',' : '') + customerLine(i, variant);
    if (chunk.length > 1_048_576) {
      yield chunk;
      chunk = '';
    }
  }
  if (FORMAT === 'json') chunk += ']\n';
  if (chunk) yield chunk;
}

async function upload(s3: S3Client, key: string, n: number, variant: number, metadata?: Record<string, string>): Promise<number> {
  let bytes = 0;
  const body = Readable.from((function* () {
    for (const c of lines(n, variant)) {
      bytes += Buffer.byteLength(c);
      yield Buffer.from(c);
    }
  })());
  const params = { Bucket: BUCKET, Key: key, Body: body, Metadata: metadata };
  await new Upload({ client: s3, params, partSize: 16 * 1024 * 1024, queueSize: 2 }).done();
  return bytes;
}

/** COPY of the same mapped rows into empty copies of entities/relationships with the same indexes. */
async function copyCeiling(admin: Client, n: number): Promise<number> {
  await admin.query('DROP SCHEMA IF EXISTS bench_copy CASCADE; CREATE SCHEMA bench_copy');
  await admin.query('CREATE TABLE bench_copy.entities (LIKE canonical.entities INCLUDING ALL)');
  await admin.query('CREATE TABLE bench_copy.relationships (LIKE canonical.relationships INCLUDING ALL)');
  const source = renderSourcesConfig([SOURCE]).sources[0] as any;
  const started = process.hrtime.bigint();
  const relationships: string[] = [];
  function* rows(): Generator<string> {
    for (let i = 0; i < n; i++) {
      const result = mapRecord(JSON.parse(customerLine(i, 0)), source);
      if (!('entity' in result)) throw new Error('benchmark record did not map');
      const e = result.entity;
      for (const r of e.relationships ?? []) {
        relationships.push(copyRow(['parent', e.entityType, e.sourceSystem, e.sourceId, r.targetEntityType, r.targetSourceSystem, r.targetSourceId]));
      }
      const updatedAt = e.sourceUpdatedAt as string | null;
      yield copyRow([e.entityType, e.sourceSystem, e.sourceId, e.canonicalKey ?? null, JSON.stringify(e.attributes), contentHash(e), updatedAt]);
    }
  }
  await admin.query('BEGIN');
  await pipeline(Readable.from(rows()), admin.query(copyFrom(
    'COPY bench_copy.entities (entity_type, source_system, source_id, canonical_key, attributes, content_hash, source_updated_at) FROM STDIN')));
  await pipeline(Readable.from(relationships), admin.query(copyFrom(
    'COPY bench_copy.relationships (rel_type, from_entity_type, from_source_system, from_source_id, to_entity_type, to_source_system, to_source_id) FROM STDIN')));
  await admin.query('COMMIT');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await admin.query('DROP SCHEMA bench_copy CASCADE');
  return ms;
}

/** One INSERT … ON CONFLICT DO UPDATE per row (autocommit, as a naive loader does) into an empty copy. */
async function rowAtATimeFloor(admin: Client, sample: number): Promise<number> {
  await admin.query('DROP SCHEMA IF EXISTS bench_row CASCADE; CREATE SCHEMA bench_row');
  await admin.query('CREATE TABLE bench_row.entities (LIKE canonical.entities INCLUDING ALL)');
  const source = renderSourcesConfig([SOURCE]).sources[0] as any;
  const started = process.hrtime.bigint();
  for (let i = 0; i < sample; i++) {
    const result = mapRecord(JSON.parse(customerLine(i, 0)), source);
    if (!('entity' in result)) throw new Error('benchmark record did not map');
    const e = result.entity;
    await admin.query(`INSERT INTO bench_row.entities (entity_type, source_system, source_id, canonical_key, attributes, content_hash, source_updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (entity_type, source_system, source_id) DO UPDATE SET attributes = EXCLUDED.attributes, content_hash = EXCLUDED.content_hash
      WHERE bench_row.entities.content_hash <> EXCLUDED.content_hash`,
    [e.entityType, e.sourceSystem, e.sourceId, e.canonicalKey, JSON.stringify(e.attributes), contentHash(e), e.sourceUpdatedAt]);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await admin.query('DROP SCHEMA bench_row CASCADE');
  return ms;
}

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
const fmt = (n: number) => n.toLocaleString('en-US');

interface Run {
  readonly name: string;
  readonly recordsPerSecond: number;
  readonly wallMs: number;
  readonly maxRssMb: number;
  readonly counts: Record<string, number>;
}

interface SideResult {
  readonly build: string;
  readonly description: string;
  readonly records: number;
  readonly loadAverage: { readonly start: string; readonly end: string };
  readonly runs: Run[];
  readonly copyMs: number;
  readonly floorMs: number;
  readonly floorSample: number;
  /** First load records/s over COPY rows/s. */
  readonly firstOverCopy: number;
  readonly postgres: string;
}

/** A database of the cluster, created and connected. */
async function createDatabase(adminUrl: string, name: string): Promise<{ url: URL; client: Client }> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return { url, client };
}

/** The benchmark for one build, on its own freshly started services. */
async function runBuild(dir: string): Promise<SideResult> {
  const n = arg('records', 1_000_000);
  const sample = Math.min(n, arg('floor-sample', 5_000));
  const batchSize = arg('batch-size', 2000);
  const loadStart = loadAverage();
  const build = loadBuild(dir);
  console.log(`\n== ${build.dir} (${build.description}): ${fmt(n)} customers (${FORMAT}), batch size ${batchSize}; `
    + `${os.cpus().length} CPUs, Node ${process.version}; load average ${loadStart}`);
  const pg = await startLocalPostgres({ fast: false });
  const localS3 = await startLocalS3([BUCKET]);
  const sm = await startLocalSecretsManager();
  const eventBridge = await startLocalEventBridge();
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-bench-'));
  try {
    console.log(`PostgreSQL: ${pg.description} (fsync on)`);
    const { url: dbUrl, client: db } = await createDatabase(pg.adminUrl, 'bench');
    const version = (await db.query('SHOW server_version')).rows[0].server_version;
    const fsync = (await db.query('SHOW fsync')).rows[0].fsync;
    await build.migrate(db, { sets: [{ namespace: 'library', migrations: build.migrations }], loginUsers: LOGIN_USERS });
    console.log(`migrations: ${build.migrations.map((m) => m.id).join(', ')}`);
    const configPath = path.join(configDir, 'sources.json');
    fs.writeFileSync(configPath, JSON.stringify(build.renderSourcesConfig([build.builtInSources.crmCustomers()])));
    const env = ingestionEnvironment({
      db: dbUrl,
      writer: LOGIN_USERS.find((u) => u.group === GroupRole.WRITER)!,
      s3: localS3,
      secretsManager: sm,
      eventBridge,
      sourcesConfigPath: configPath,
      extra: { INGEST_BATCH_SIZE: String(batchSize) },
    });
    const s3 = localS3.client();

    const runs: Run[] = [];
    const scenario = async (name: string, key: string, variant: number, metadata?: Record<string, string>) => {
      const uploadStarted = Date.now();
      const bytes = await upload(s3, key, n, variant, metadata);
      console.log(`  uploaded ${key}: ${(bytes / 1e6).toFixed(0)} MB in ${((Date.now() - uploadStarted) / 1000).toFixed(1)} s`);
      const invocation: Invocation = await invokeIngestion(build.ingestionBundle, env, BUCKET, key);
      const { counts } = successEventOf(eventBridge, key, invocation);
      runs.push({ name, recordsPerSecond: rate(n, invocation.wallMs), wallMs: invocation.wallMs, maxRssMb: invocation.maxRssMb, counts });
      console.log(`  ${name}: ${fmt(rate(n, invocation.wallMs))} records/s, ${(invocation.wallMs / 1000).toFixed(1)} s, peak RSS ${invocation.maxRssMb.toFixed(0)} MB, counts ${JSON.stringify(counts)}`);
      // The typed storage's refresh, as the pipeline's rule invokes it after the run: timed on its own.
      if (await hasTypedStorage(db)) {
        const refresh = await invokeTypedRefresh(build.ingestionBundle, env);
        console.log(`    typed storage refresh after it (off the run's path): ${(refresh.wallMs / 1000).toFixed(1)} s, peak RSS ${refresh.maxRssMb.toFixed(0)} MB`);
      }
    };

    console.log(`Runs of ${path.relative(build.dir, build.ingestionBundle)}:`);
    await scenario('first load', `crm-data/bench/customers.${FORMAT}`, 0);
    await scenario('forced re-ingest (same content)', `crm-data/bench/customers.${FORMAT}`, 0, { reingest: `bench-${Date.now()}` });
    await scenario('10% of the records changed', `crm-data/bench/customers-changed.${FORMAT}`, 1);
    await db.end();

    console.log(`Reference points (tables of the layout up to ${PRE_TYPED_LAST_MIGRATION}, in a database of their own):`);
    const { client: reference } = await createDatabase(pg.adminUrl, 'bench_reference');
    await build.migrate(reference, { sets: [{ namespace: 'library', migrations: build.migrations.filter((m) => m.id <= PRE_TYPED_LAST_MIGRATION) }], loginUsers: LOGIN_USERS });
    const copyMs = await copyCeiling(reference, n);
    console.log(`  COPY into empty copies of the tables (same indexes): ${fmt(rate(n, copyMs))} rows/s, ${(copyMs / 1000).toFixed(1)} s`);
    const floorMs = await rowAtATimeFloor(reference, sample);
    console.log(`  one row at a time (sample of ${fmt(sample)}): ${fmt(rate(sample, floorMs))} rows/s`);
    await reference.end();

    const first = runs[0].recordsPerSecond;
    console.log('\nSummary');
    console.log(table(['run', 'records/s', 'wall time', 'peak RSS'], [
      ...runs.map((r) => [r.name, fmt(r.recordsPerSecond), `${(r.wallMs / 1000).toFixed(1)} s`, `${r.maxRssMb.toFixed(0)} MB`]),
      ['COPY ceiling', fmt(rate(n, copyMs)), `${(copyMs / 1000).toFixed(1)} s`, '–'],
      [`row-at-a-time floor (${fmt(sample)})`, fmt(rate(sample, floorMs)), `${(floorMs / 1000).toFixed(1)} s`, '–'],
    ]));
    console.log(`first load / COPY = ${(first / rate(n, copyMs)).toFixed(2)} (goal ≥ 0.60); first load / row-at-a-time = ${(first / rate(sample, floorMs)).toFixed(1)}x`);
    const postgres = `PostgreSQL ${version}, fsync ${fsync}`;
    const loadEnd = loadAverage();
    console.log(`${postgres}; records ${fmt(n)}; load average ${loadStart} at the start, ${loadEnd} at the end`);
    const loadAverages = { start: loadStart, end: loadEnd };
    const firstOverCopy = first / rate(n, copyMs);
    const figures = { copyMs, floorMs, floorSample: sample, firstOverCopy };
    return { build: build.dir, description: build.description, records: n, loadAverage: loadAverages, runs, ...figures, postgres };
  } finally {
    await Promise.all([localS3.close(), sm.close(), eventBridge.close()]);
    await pg.stop();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}

/** Both sides side by side. */
function compare(before: SideResult, after: SideResult): void {
  console.log(`\n== A/B: before = ${before.build} (${before.description}), after = ${after.build} (${after.description}); `
    + `${fmt(after.records)} records, ${after.postgres}\n`);
  const rows: string[][] = [];
  for (const a of after.runs) {
    const b = before.runs.find((r) => r.name === a.name)!;
    rows.push([`${a.name}: records/s`, fmt(b.recordsPerSecond), fmt(a.recordsPerSecond), ratio(a.recordsPerSecond, b.recordsPerSecond)]);
    rows.push([`${a.name}: peak RSS`, `${b.maxRssMb.toFixed(0)} MB`, `${a.maxRssMb.toFixed(0)} MB`, ratio(a.maxRssMb, b.maxRssMb)]);
  }
  rows.push(['COPY ceiling: rows/s', fmt(rate(before.records, before.copyMs)), fmt(rate(after.records, after.copyMs)), ratio(before.copyMs, after.copyMs)]);
  rows.push(['first load / COPY', before.firstOverCopy.toFixed(2), after.firstOverCopy.toFixed(2), ratio(after.firstOverCopy, before.firstOverCopy)]);
  rows.push([`row-at-a-time floor (${fmt(after.floorSample)}): rows/s`, fmt(rate(before.floorSample, before.floorMs)), fmt(rate(after.floorSample, after.floorMs)), ratio(before.floorMs, after.floorMs)]);
  rows.push(['load average (1/5/15 min) start → end', `${before.loadAverage.start} → ${before.loadAverage.end}`, `${after.loadAverage.start} → ${after.loadAverage.end}`, '']);
  console.log(table(['', 'before', 'after', 'after/before'], rows));
  const kept = after.firstOverCopy / before.firstOverCopy;
  console.log(`\nfirst load / COPY, after/before = ${kept.toFixed(2)} (goal: not more than 10% below before, ≥ 0.90): ${kept >= 0.9 ? 'met' : 'NOT met'}`);
}

async function main(): Promise<void> {
  const side = option('side');
  if (side) {
    reportSide(await runBuild(side));
  } else {
    console.log('Bundling the handler (npx projen bundle ingestion-pipeline) …');
    if (!process.env.BENCH_SKIP_BUNDLE) execFileSync('npx', ['projen', 'bundle', 'ingestion-pipeline'], { cwd: THIS_BUILD, stdio: 'ignore' });
    const baseline = option('baseline') ?? process.env.BENCH_BASELINE;
    if (!baseline) {
      await runBuild(THIS_BUILD);
    } else {
      const args = argsWithout('baseline');
      const before = await runSide<SideResult>(__filename, path.resolve(baseline), args);
      const after = await runSide<SideResult>(__filename, THIS_BUILD, args);
      compare(before, after);
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
