/**
 * Analytics benchmark (not a test):
 *   npx ts-node --project tsconfig.dev.json bench/analytics/run.ts [--customers N] [--misses M] [--hits H] [--only op1,op2]
 *     [--baseline <dir>] [--changed-orders N] [--changed-customers N]
 *
 * Starts its own durable PostgreSQL (fsync on) and fills it only through shipped code:
 *   1. the build's migrations of the layout from before typed storage (up to
 *      0003_source_id_normalization), then N customers (default 1,000,000), 3N orders, 1,000 products
 *      and their relationships by COPY, as ingestion wrote them at that layout (bench/analytics/data.ts);
 *   2. the build's remaining migrations with its migration runner (the backfill of a deployed store), timed;
 *   3. through the build's bundled ingestion handler (assets/ingestion-pipeline/index.js, in a process
 *      of its own): 1,000 orders and 1,000 customers re-sent as stored, which must all be unchanged
 *      (the bulk load wrote what ingestion writes); then the timed ingestion run of 10,000 existing
 *      orders with changed amounts and statuses and 2,000 existing customers moved to another
 *      segment, as the built-in erpOrders and crmCustomers sources read them; then the freshness check: the data generation moved, and
 *      revenue_analysis (month × segment) through the handler, cache=false and then cached, answers
 *      for the new generation with the rows of its own SQL run directly (and of the baseline's
 *      SQL, in an A/B run);
 * then for each operation prints:
 *   - the same SQL run directly with psql (as the analytics reader, in a read-only transaction);
 *   - the bundled handler (assets/analytics-api/index.js, through API Gateway proxy events) on cache
 *     misses (cache=false), p50 and p95;
 *   - the handler on cache hits (DynamoDB: dynalite, in process), p50 and p95.
 * The handler gets a 10-minute query budget here (as a job runner would), so the heavy operations
 * finish at this size instead of answering 504.
 *
 * `--baseline <dir>`: before/after in one sitting. <dir> is another checkout of this library (e.g. a
 * worktree at an earlier commit, with `npm ci` and `npx projen bundle` run in it); the whole
 * sequence runs for it first, then for this checkout, each in a process of its own with its own
 * freshly started PostgreSQL, DynamoDB and S3, each with its build's migrations, operations and
 * bundles; then the comparison table. Load averages are printed at the start and end of each side.
 * (`--side <dir>` runs one side and reports its result to the parent: internal.)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { AS_OF, customerRecords, ENTITY_COPY_COLUMNS, entityRows, id, orderRecords, RELATIONSHIPS_FROM_ATTRIBUTES } from './data';
import { psqlMs, psqlRows, rowDifference, statementsOf } from './sql';
import type { Params } from '../../lambda/analytics-api/operations/types';
import { GroupRole } from '../../lambda/canonical-store/runner';
import { LOGIN_USERS } from '../../test/support/canonical-db';
import { startLocalDynamoDb } from '../../test/support/local-dynamodb';
import { LocalEventBridge, startLocalEventBridge } from '../../test/support/local-eventbridge';
import { startLocalPostgres } from '../../test/support/local-postgres';
import { startLocalS3 } from '../../test/support/local-s3';
import { fakeAwsEnvironment, startLocalSecretsManager } from '../../test/support/local-secrets-manager';
import { argsWithout, loadAverage, option, ratio, reportSide, runSide, table } from '../support/ab';
import { Build, loadBuild, PRE_TYPED_LAST_MIGRATION, THIS_BUILD } from '../support/build';
import { hasTypedStorage, ingestionEnvironment, invokeIngestion, invokeTypedRefresh, successEventOf } from '../support/ingestion-handler';

const RAW_BUCKET = 'raw-data';
const RESULTS_BUCKET = 'results-bucket';

function arg(name: string, fallback: number): number {
  const value = option(name);
  return value === undefined ? fallback : Number(value);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

interface Case {
  readonly label: string;
  readonly operation: string;
  readonly parameters: Params;
  readonly heavy?: boolean;
}

const CASES: Case[] = [
  { label: 'simple_demo', operation: 'simple_demo', parameters: {} },
  { label: 'database_info', operation: 'database_info', parameters: {}, heavy: true },
  { label: 'customer_analysis (lifetime_value by country)', operation: 'customer_analysis', parameters: { metric: 'lifetime_value', group_by: 'country' } },
  { label: 'customer_analysis (revenue by industry, HAVING ≥ 1000)', operation: 'customer_analysis', parameters: { metric: 'revenue', group_by: 'industry', min_group_size: 1000 }, heavy: true },
  { label: 'revenue_analysis (month × segment)', operation: 'revenue_analysis', parameters: { period: 'month', segment_by: 'segment' }, heavy: true },
  { label: 'multi_dimensional_analytics (12 months, CUBE segment × country)', operation: 'multi_dimensional_analytics', parameters: { timeframe: '12 months', as_of: AS_OF }, heavy: true },
  { label: 'relationship_analysis (customers)', operation: 'relationship_analysis', parameters: { entity_type: 'customer' }, heavy: true },
  { label: 'relationship_analysis (one subtree)', operation: 'relationship_analysis', parameters: { entity_type: 'customer', root_id: id('C', 3) } },
  { label: 'data_integrity_analysis (customers, orders)', operation: 'data_integrity_analysis', parameters: { entity_types: ['customer', 'order'] }, heavy: true },
  { label: 'custom_complex_query (GROUP BY on a view)', operation: 'custom_complex_query', parameters: { sql: 'SELECT segment, count(*) AS n, round(avg(lifetime_value), 2) AS avg_ltv FROM customers GROUP BY segment' } },
];

/** The operation whose freshness is checked after the ingestion run (a single-statement one). */
const FRESHNESS_CASE = CASES.find((c) => c.operation === 'revenue_analysis')!;

interface CaseResult {
  readonly label: string;
  readonly rawP50: number;
  readonly missP50: number;
  readonly missP95: number;
  readonly hitP50: number;
  readonly hitP95: number;
  readonly rows: number;
}

interface IngestionFile {
  readonly key: string;
  readonly records: number;
  readonly ms: number;
  readonly counts: Record<string, number>;
}

interface SideResult {
  readonly build: string;
  readonly description: string;
  readonly loadAverage: { readonly start: string; readonly end: string };
  /** COPY, relationships, VACUUM ANALYZE at the layout from before typed storage. */
  readonly loadMs: number;
  /** The build's migrations after PRE_TYPED_LAST_MIGRATION (null: none). */
  readonly backfill: { readonly ms: number; readonly migrations: string[] } | null;
  readonly ingestion: { readonly records: number; readonly ms: number; readonly runs: IngestionFile[] };
  readonly freshness: { readonly generation: number; readonly waitedMs: number };
  readonly cases: CaseResult[];
}

async function copyInto(client: Client, target: string, columns: string[], rows: Iterable<string>): Promise<number> {
  let n = 0;
  const counted = (function* () {
    for (const row of rows) {
      n++;
      yield row;
    }
  })();
  await pipeline(Readable.from(counted), client.query(copyFrom(`COPY ${target} (${columns.join(', ')}) FROM STDIN`)));
  return n;
}

/** Steps 1 and 2: the bulk data at the layout from before typed storage, then the build's backfill. */
async function load(build: Build, admin: Client, customers: number): Promise<Pick<SideResult, 'loadMs' | 'backfill'>> {
  const started = Date.now();
  const before = build.migrations.filter((m) => m.id <= PRE_TYPED_LAST_MIGRATION);
  await build.migrate(admin, { sets: [{ namespace: 'library', migrations: before }], loginUsers: LOGIN_USERS });
  console.log(`migrations up to ${PRE_TYPED_LAST_MIGRATION}: ${before.map((m) => m.id).join(', ')}`);
  let t = Date.now();
  const n = await copyInto(admin, 'canonical.entities', ENTITY_COPY_COLUMNS, entityRows(customers, build.contentHash));
  console.log(`loaded ${n} entities in ${seconds(Date.now() - t)}`);
  t = Date.now();
  await admin.query(RELATIONSHIPS_FROM_ATTRIBUTES);
  console.log(`relationships in ${seconds(Date.now() - t)}`);
  t = Date.now();
  await admin.query('VACUUM ANALYZE');
  await admin.query('SELECT canonical.bump_data_generation()');
  console.log(`VACUUM ANALYZE in ${seconds(Date.now() - t)}`);
  const loadMs = Date.now() - started;

  const remaining = build.migrations.filter((m) => m.id > PRE_TYPED_LAST_MIGRATION);
  if (remaining.length === 0) {
    console.log('backfill migration: none');
    return { loadMs, backfill: null };
  }
  t = Date.now();
  const result = await build.migrate(admin, { sets: [{ namespace: 'library', migrations: build.migrations }], loginUsers: LOGIN_USERS });
  const ms = Date.now() - t;
  console.log(`backfill migration: ${(ms / 1000).toFixed(1)} s (${result.applied.join(', ')})`);
  t = Date.now();
  await admin.query('VACUUM ANALYZE');
  console.log(`VACUUM ANALYZE after the backfill in ${seconds(Date.now() - t)}`);
  return { loadMs, backfill: { ms, migrations: result.applied } };
}

type Call = (c: Case, cache: boolean) => Promise<{ ms: number; meta: any; data: any }>;

/** The bundled analytics handler of the build, in this process, through API Gateway proxy events. */
function analyticsHandler(build: Build): Call {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { handler } = require(build.analyticsApiBundle) as typeof import('../../lambda/analytics-api/index');
  return async (c, cache) => {
    const t = process.hrtime.bigint();
    const r = await handler({
      httpMethod: 'POST',
      path: '/analytics',
      resource: '/analytics',
      headers: {},
      body: JSON.stringify({ operation: c.operation, parameters: c.parameters, cache }),
      requestContext: { requestId: 'bench', domainName: 'bench.local', stage: 'prod', path: '/prod/analytics' },
    } as never);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.statusCode !== 200) throw new Error(`${c.label}: ${r.statusCode} ${r.body.slice(0, 300)}`);
    const body = JSON.parse(r.body);
    return { ms, meta: body.meta, data: body.data };
  };
}

async function generation(admin: Client): Promise<number> {
  return Number((await admin.query('SELECT generation FROM canonical.data_generation')).rows[0].generation);
}

interface IngestionContext {
  readonly build: Build;
  readonly admin: Client;
  readonly env: Record<string, string>;
  readonly s3: S3Client;
  readonly eventBridge: LocalEventBridge;
}

/** One file through the build's bundled ingestion handler; `expect` names the count every record must land in. */
async function ingestFile(ctx: IngestionContext, key: string, body: string, expect: 'updated' | 'unchanged'): Promise<IngestionFile> {
  const records = body.split('\n').length - 1;
  await ctx.s3.send(new PutObjectCommand({ Bucket: RAW_BUCKET, Key: key, Body: body }));
  const invocation = await invokeIngestion(ctx.build.ingestionBundle, ctx.env, RAW_BUCKET, key);
  const { counts } = successEventOf(ctx.eventBridge, key, invocation);
  if (counts[expect] !== records) throw new Error(`${key}: ${counts[expect]} of ${records} records ${expect} (counts ${JSON.stringify(counts)})`);
  console.log(`  ${key}: ${records} records in ${seconds(invocation.wallMs)}, peak RSS ${invocation.maxRssMb.toFixed(0)} MB, counts ${JSON.stringify(counts)}`);
  // The typed storage's refresh, as the pipeline's rule invokes it after the run (off the run's own path).
  let refreshMs = 0;
  if (await hasTypedStorage(ctx.admin)) {
    refreshMs = (await invokeTypedRefresh(ctx.build.ingestionBundle, ctx.env)).wallMs;
    console.log(`  typed storage refresh after it: ${seconds(refreshMs)}`);
  }
  return { key, records, ms: invocation.wallMs + refreshMs, counts };
}

/** Records re-sent exactly as stored are all unchanged: the bulk load wrote what ingestion writes (attributes, keys, relationships, content hashes). */
async function checkStoredAsIngested(ctx: IngestionContext, customers: number): Promise<void> {
  console.log('records re-sent as stored (not timed):');
  await ingestFile(ctx, 'erp-data/orders/bench-as-stored.ndjson', await orderRecords(ctx.admin, 1000, customers, false), 'unchanged');
  await ingestFile(ctx, 'crm-data/bench-as-stored.ndjson', await customerRecords(ctx.admin, 1000, customers, false), 'unchanged');
}

/** Step 3: the timed run of the changed records through the build's bundled ingestion handler, one file per source. */
async function ingestionRun(ctx: IngestionContext, customers: number): Promise<SideResult['ingestion']> {
  const runs = [
    await ingestFile(ctx, 'erp-data/orders/bench-changes.ndjson', await orderRecords(ctx.admin, arg('changed-orders', 10_000), customers, true), 'updated'),
    await ingestFile(ctx, 'crm-data/bench-changes.ndjson', await customerRecords(ctx.admin, arg('changed-customers', 2_000), customers, true), 'updated'),
  ];
  const records = runs.reduce((a, r) => a + r.records, 0);
  const ms = runs.reduce((a, r) => a + r.ms, 0);
  console.log(`ingestion run: ${records} changed records in ${seconds(ms)} (with the typed storage refresh after each file, when the build has one)`);
  return { records, ms, runs };
}

const STALE_WAIT_MS = 120_000;

/**
 * The freshness check after the ingestion run: the handler's answer (cache=false, then cached) is
 * for the new generation, differs from the answer before the run, and has the rows of the
 * operation's SQL run directly now. An answer labelled stale is asked again for up to two
 * minutes; an older generation not labelled stale fails.
 */
async function checkFreshness(call: Call, newGeneration: number, previous: Array<Record<string, unknown>>,
  expected: Array<{ name: string; rows: () => Array<Record<string, unknown>> }>): Promise<SideResult['freshness']> {
  const started = Date.now();
  const fresh = async (cache: boolean) => {
    for (;;) {
      const answer = await call(FRESHNESS_CASE, cache);
      if (answer.meta.dataGeneration === newGeneration) return answer;
      if (answer.meta.stale !== true) {
        throw new Error(`freshness: FAILED: ${FRESHNESS_CASE.label} (cache ${cache}) answered for generation ${answer.meta.dataGeneration}, `
          + `not labelled stale, after generation ${newGeneration} committed`);
      }
      if (Date.now() - started > STALE_WAIT_MS) throw new Error(`freshness: FAILED: still stale (generation ${answer.meta.dataGeneration}) ${STALE_WAIT_MS / 1000} s after generation ${newGeneration} committed`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  const miss = await fresh(false);
  const waitedMs = Date.now() - started;
  if (!rowDifference(miss.data, previous)) throw new Error(`freshness: the ingestion run did not change ${FRESHNESS_CASE.label}: the check would prove nothing`);
  for (const e of expected) {
    const difference = rowDifference(miss.data, e.rows());
    if (difference) throw new Error(`freshness: FAILED: ${FRESHNESS_CASE.label} differs from ${e.name}: ${difference}`);
  }
  const cached = await fresh(true);
  const difference = rowDifference(cached.data, miss.data);
  if (difference) throw new Error(`freshness: FAILED: the cached answer differs from the fresh one: ${difference}`);
  console.log(`freshness: ok (generation ${newGeneration})${waitedMs > 1000 ? ` after ${seconds(waitedMs)} of stale answers` : ''}; `
    + `${miss.meta.rowCount} rows equal to ${expected.map((e) => e.name).join(' and ')}`);
  return { generation: newGeneration, waitedMs };
}

/** The whole sequence for one build, on its own freshly started services. */
async function runBuild(dir: string, referenceDir: string | undefined): Promise<SideResult> {
  const customers = arg('customers', 1_000_000);
  const misses = arg('misses', 5);
  const hits = arg('hits', 50);
  const loadStart = loadAverage();
  const build = loadBuild(dir);
  const reference = referenceDir ? loadBuild(referenceDir) : undefined;
  console.log(`\n== ${build.dir} (${build.description}): ${customers} customers, ${customers * 3} orders (${os.cpus().length} CPUs, PostgreSQL with fsync on); load average ${loadStart}`);
  const pg = await startLocalPostgres({ fast: false });
  const sm = await startLocalSecretsManager();
  const ddb = await startLocalDynamoDb();
  const s3 = await startLocalS3([RESULTS_BUCKET, RAW_BUCKET]);
  const eventBridge = await startLocalEventBridge();
  const admin = new Client({ connectionString: pg.adminUrl });
  await admin.connect();
  const sourcesConfigPath = path.join(os.tmpdir(), `cdp-bench-sources-${process.pid}.json`);
  try {
    const started = Date.now();
    const loaded = await load(build, admin, customers);
    console.log(`data ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await ddb.createTable('analytics-cache', 'cacheKey');
    const adminUrl = new URL(pg.adminUrl);
    const writer = LOGIN_USERS.find((u) => u.group === GroupRole.WRITER)!;
    const analyticsUser = LOGIN_USERS.find((u) => u.group === GroupRole.ANALYTICS)!;
    const readerUser = LOGIN_USERS.find((u) => u.group === GroupRole.SQL_READER)!;
    const urlFor = (u: { username: string; password: string }) => {
      const url = new URL(pg.adminUrl);
      url.username = u.username;
      url.password = u.password;
      return url.toString();
    };
    Object.assign(process.env, fakeAwsEnvironment(), s3.environment(), {
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      DB_HOST: adminUrl.hostname,
      DB_PORT: adminUrl.port,
      DB_NAME: adminUrl.pathname.slice(1) || 'postgres',
      DB_TLS: 'disable',
      DB_SECRET_ARN: sm.put('analytics', { username: analyticsUser.username, password: analyticsUser.password }),
      SQL_READER_SECRET_ARN: sm.put('reader', { username: readerUser.username, password: readerUser.password }),
      CACHE_TABLE_NAME: 'analytics-cache',
      RESULTS_BUCKET,
      QUERY_TIMEOUT_MS: '600000',
    });
    const call = analyticsHandler(build);
    // Cold start: pools, secrets, module loading (the SQL reader's too: its pool and the SQL parser).
    await call(CASES[0], false);
    await call({ label: 'warm-up', operation: 'custom_complex_query', parameters: { sql: 'SELECT 1 AS one' } }, false);
    const previous = await call(FRESHNESS_CASE, true); // an answer cached for the generation before the ingestion run

    const b = build.builtInSources;
    fs.writeFileSync(sourcesConfigPath, JSON.stringify(build.renderSourcesConfig([b.crmCustomers(), b.erpOrders(), b.erpProducts()])));
    const env = ingestionEnvironment({ db: adminUrl, writer, s3, secretsManager: sm, eventBridge, sourcesConfigPath });
    const ingestionContext = { build, admin, env, s3: s3.client(), eventBridge };
    await checkStoredAsIngested(ingestionContext, customers);
    const generationBefore = await generation(admin);
    console.log(`ingestion run through ${path.relative(build.dir, build.ingestionBundle)} (generation ${generationBefore}):`);
    const ingestion = await ingestionRun(ingestionContext, customers);
    const generationAfter = await generation(admin);
    if (generationAfter <= generationBefore) throw new Error(`freshness: FAILED: the data generation did not move (${generationBefore} → ${generationAfter})`);
    const analyticsUrl = urlFor(analyticsUser);
    const ownSql = await statementsOf(build, FRESHNESS_CASE.operation, FRESHNESS_CASE.parameters, analyticsUrl);
    const referenceSql = reference ? await statementsOf(reference, FRESHNESS_CASE.operation, FRESHNESS_CASE.parameters, analyticsUrl) : undefined;
    const freshness = await checkFreshness(call, generationAfter, previous.data, [
      { name: 'its own SQL run directly', rows: () => psqlRows(analyticsUrl, ownSql) },
      ...(referenceSql ? [{ name: `the SQL of ${reference!.dir} run directly`, rows: () => psqlRows(analyticsUrl, referenceSql) }] : []),
    ]);

    const cases: CaseResult[] = [];
    const only = option('only')?.split(',');
    for (const c of CASES.filter((x) => !only || only.includes(x.operation))) {
      const url = c.operation === 'custom_complex_query' ? urlFor(readerUser) : analyticsUrl;
      const statements = await statementsOf(build, c.operation, c.parameters, analyticsUrl);
      const n = c.heavy ? Math.min(misses, 3) : misses * 2;
      const raw: number[] = [];
      const miss: number[] = [];
      let rows = 0;
      // Interleaved, so that caches warm equally for both.
      for (let i = 0; i < n; i++) {
        raw.push(psqlMs(url, statements));
        const m = await call(c, false);
        miss.push(m.ms);
        rows = m.meta.rowCount;
      }
      await call(c, true); // fills the cache
      const hit: number[] = [];
      for (let i = 0; i < hits; i++) {
        const h = await call(c, true);
        if (h.meta.cache !== 'hit') throw new Error(`${c.label}: expected a cache hit, got ${h.meta.cache}`);
        hit.push(h.ms);
      }
      const result = {
        label: c.label, rawP50: pct(raw, 50), missP50: pct(miss, 50), missP95: pct(miss, 95), hitP50: pct(hit, 50), hitP95: pct(hit, 95), rows,
      };
      cases.push(result);
      console.log(`${c.label}: raw ${fmt(result.rawP50)}, miss p50 ${fmt(result.missP50)} p95 ${fmt(result.missP95)}, hit p50 ${fmt(result.hitP50)} p95 ${fmt(result.hitP95)}`);
    }
    console.log(`\n${table(['operation', 'psql (raw SQL)', 'handler miss p50', 'miss p95', 'miss / raw', 'hit p50', 'hit p95', 'rows'],
      cases.map((r) => [r.label, fmt(r.rawP50), fmt(r.missP50), fmt(r.missP95), ratio(r.missP50, r.rawP50), fmt(r.hitP50), fmt(r.hitP95), String(r.rows)]))}`);
    console.log(`\n(raw and misses: ${misses * 2} runs, heavy operations ${Math.min(misses, 3)}; hits: ${hits} runs; handler times are wall time of the handler call)`);
    const loadEnd = loadAverage();
    console.log(`load average: ${loadStart} at the start, ${loadEnd} at the end`);
    const loadAverages = { start: loadStart, end: loadEnd };
    return { build: build.dir, description: build.description, loadAverage: loadAverages, ...loaded, ingestion, freshness, cases };
  } finally {
    await admin.end().catch(() => undefined);
    fs.rmSync(sourcesConfigPath, { force: true });
    await Promise.all([sm.close(), ddb.close(), s3.close(), eventBridge.close()]);
    await pg.stop();
  }
}

/** The A/B table and figures. */
function compare(before: SideResult, after: SideResult): void {
  const yesNo = (ok: boolean) => (ok ? 'yes' : 'no');
  const rows = after.cases.map((a) => {
    const b = before.cases.find((x) => x.label === a.label);
    return [a.label, b ? fmt(b.missP95) : '–', fmt(a.missP95), ratio(a.missP95, b?.missP95), yesNo(a.missP95 <= 1000), fmt(a.hitP95), yesNo(a.hitP95 <= 10),
      b && b.rows !== a.rows ? `${b.rows} / ${a.rows} (differ)` : String(a.rows)];
  });
  console.log(`\n== A/B: before = ${before.build} (${before.description}), after = ${after.build} (${after.description})\n`);
  console.log(table(['operation', 'before miss p95', 'after miss p95', 'after/before', '≤ 1 s', 'after hit p95', '≤ 10 ms hits', 'rows'], rows));
  const backfill = (s: SideResult) => (s.backfill ? `${seconds(s.backfill.ms)} (${s.backfill.migrations.join(', ')})` : 'none');
  console.log(`\n${table(['', 'before', 'after', 'after/before'], [
    [`ingestion run (${after.ingestion.records} changed records)`, seconds(before.ingestion.ms), seconds(after.ingestion.ms), ratio(after.ingestion.ms, before.ingestion.ms)],
    ['bulk load at the pre-typed layout (COPY, relationships, VACUUM ANALYZE)', seconds(before.loadMs), seconds(after.loadMs), ratio(after.loadMs, before.loadMs)],
    ['backfill migration', backfill(before), backfill(after), ratio(after.backfill?.ms, before.backfill?.ms)],
    ['freshness', `ok (generation ${before.freshness.generation})`, `ok (generation ${after.freshness.generation})`, ''],
    ['load average (1/5/15 min) start → end', `${before.loadAverage.start} → ${before.loadAverage.end}`, `${after.loadAverage.start} → ${after.loadAverage.end}`, ''],
  ])}`);
}

async function main(): Promise<void> {
  const side = option('side');
  if (side) {
    reportSide(await runBuild(side, option('reference')));
  } else {
    const baseline = option('baseline');
    if (!baseline) {
      await runBuild(THIS_BUILD, undefined);
    } else {
      const args = argsWithout('baseline');
      const before = await runSide<SideResult>(__filename, path.resolve(baseline), args);
      const after = await runSide<SideResult>(__filename, THIS_BUILD, [...args, '--reference', path.resolve(baseline)]);
      compare(before, after);
    }
  }
  // The bundled handler's pools live in its own module instance: exit instead of waiting for them.
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
