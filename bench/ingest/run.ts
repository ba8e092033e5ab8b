/**
 * Ingestion benchmark (not a test):
 *   npx ts-node --project tsconfig.dev.json bench/ingest/run.ts [--records N] [--batch-size B] [--format ndjson|json]
 *
 * Generates N synthetic CRM customers (~300 bytes of JSON each) as NDJSON (or, with `--format json`,
 * as one JSON array in a .json file, read by the streaming JSON reader), uploads them to s3rver,
 * and runs the real bundled handler (assets/ingestion-pipeline/index.js, in a child process so its peak RSS is
 * its own) against a durable local PostgreSQL (fsync on) for: the first load, a forced re-ingest
 * of the same content (all unchanged), and a file with 10% of the records changed. Then times a
 * plain COPY of the same rows into empty copies of the same tables with the same indexes (the
 * ceiling) and one-row-at-a-time upserts on a sample (the floor), and prints the ratios.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { LIBRARY_MIGRATIONS } from '../../lambda/canonical-store/migrations';
import { GroupRole, migrate } from '../../lambda/canonical-store/runner';
import { mapRecord } from '../../lambda/ingestion-pipeline/mapping';
import { contentHash } from '../../lambda/shared/canonical-upsert';
import { copyRow } from '../../lambda/shared/copy-text';
import { BuiltInSources } from '../../src/ingestion-pipeline/built-in-sources';
import { renderSourcesConfig } from '../../src/ingestion-pipeline/source-config';
import { LOGIN_USERS } from '../../test/support/canonical-db';
import { startLocalEventBridge } from '../../test/support/local-eventbridge';
import { startLocalPostgres } from '../../test/support/local-postgres';
import { s3Notification, startLocalS3 } from '../../test/support/local-s3';
import { fakeAwsEnvironment, startLocalSecretsManager } from '../../test/support/local-secrets-manager';

const ROOT = path.join(__dirname, '..', '..');
const BUCKET = 'raw-data';
const SOURCE = BuiltInSources.crmCustomers();
const INDUSTRIES = ['retail', 'manufacturing', 'software', 'energy', 'logistics', 'finance', 'healthcare', 'media'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE', 'PL', 'JP'];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
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
const FORMAT = process.argv.includes('--format') ? process.argv[process.argv.indexOf('--format') + 1] : 'ndjson';
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

interface Invocation {
  readonly wallMs: number;
  readonly maxRssMb: number;
  readonly response: unknown;
}

// The bundled handler, once, in its own process: wall time of the invocation and the process's peak RSS.
const CHILD = `
const [asset, eventJson] = process.argv.slice(1);
const { handler } = require(asset);
const event = JSON.parse(eventJson);
const context = { getRemainingTimeInMillis: () => 900000, functionName: 'bench', awsRequestId: 'bench' };
const started = process.hrtime.bigint();
handler(event, context).then((response) => {
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ wallMs, maxRssMb: process.resourceUsage().maxRSS / 1024, response }) + '\\n');
  process.exit(0);
}, (error) => { console.error(error); process.exit(1); });
`;

function invoke(env: Record<string, string>, key: string, receiveCount = 1): Promise<Invocation> {
  const event = {
    Records: [{
      messageId: `bench-${key}-${Date.now()}`,
      receiptHandle: 'r',
      body: JSON.stringify(s3Notification(BUCKET, key)),
      attributes: { ApproximateReceiveCount: String(receiveCount) },
      messageAttributes: {},
      eventSource: 'aws:sqs',
    }],
  };
  return new Promise((resolve, reject) => {
    // BENCH_NODE_ARGS: extra node flags for the handler process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [];
    // BENCH_HANDLER: another bundle to run instead (e.g. one built from the previous commit, for an A/B comparison).
    const handler = path.resolve(process.env.BENCH_HANDLER ?? path.join(ROOT, 'assets', 'ingestion-pipeline', 'index.js'));
    const child = spawn(process.execPath, [...nodeArgs, '-e', CHILD, handler, JSON.stringify(event)], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`handler exited with ${code}`))));
  });
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

async function main(): Promise<void> {
  const n = arg('records', 1_000_000);
  const sample = Math.min(n, arg('floor-sample', 5_000));
  const batchSize = arg('batch-size', 2000);
  console.log(`Ingestion benchmark: ${fmt(n)} customers (${FORMAT}), batch size ${batchSize}; ${os.cpus().length} CPUs, Node ${process.version}`);
  console.log('Bundling the handler (npx projen bundle ingestion-pipeline) …');
  if (!process.env.BENCH_SKIP_BUNDLE) execFileSync('npx', ['projen', 'bundle', 'ingestion-pipeline'], { cwd: ROOT, stdio: 'ignore' });

  const pg = await startLocalPostgres({ fast: false });
  const localS3 = await startLocalS3([BUCKET]);
  const sm = await startLocalSecretsManager();
  const eventBridge = await startLocalEventBridge();
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-bench-'));
  try {
    console.log(`PostgreSQL: ${pg.description} (fsync on)`);
    const admin = new Client({ connectionString: pg.adminUrl });
    await admin.connect();
    const version = (await admin.query('SHOW server_version')).rows[0].server_version;
    const fsync = (await admin.query('SHOW fsync')).rows[0].fsync;
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const dbUrl = new URL(pg.adminUrl);
    dbUrl.pathname = '/bench';
    const db = new Client({ connectionString: dbUrl.toString() });
    await db.connect();
    await migrate(db, { sets: [{ namespace: 'library', migrations: LIBRARY_MIGRATIONS }], loginUsers: LOGIN_USERS });
    const writer = LOGIN_USERS.find((u) => u.group === GroupRole.WRITER)!;
    const configPath = path.join(configDir, 'sources.json');
    fs.writeFileSync(configPath, JSON.stringify(renderSourcesConfig([SOURCE])));
    const env: Record<string, string> = {
      ...fakeAwsEnvironment(),
      ...localS3.environment(),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
      DB_HOST: dbUrl.hostname,
      DB_PORT: dbUrl.port,
      DB_NAME: 'bench',
      DB_TLS: 'disable',
      DB_SECRET_ARN: sm.put('writer', { username: writer.username, password: writer.password }),
      EVENT_BUS_NAME: 'bench',
      SOURCES_CONFIG_PATH: configPath,
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      INGEST_BATCH_SIZE: String(batchSize),
      NODE_OPTIONS: '--enable-source-maps',
      NODE_NO_WARNINGS: '1',
    };
    const s3 = localS3.client();

    const results: Array<{ name: string; invocation: Invocation; counts: any }> = [];
    const scenario = async (name: string, key: string, variant: number, metadata?: Record<string, string>) => {
      const uploadStarted = Date.now();
      const bytes = await upload(s3, key, n, variant, metadata);
      console.log(`  uploaded ${key}: ${(bytes / 1e6).toFixed(0)} MB in ${((Date.now() - uploadStarted) / 1000).toFixed(1)} s`);
      const invocation = await invoke(env, key);
      const event = eventBridge.events.filter((e) => e.detail.objectKey === key).pop();
      if (!event || event.detailType !== 'Ingestion Succeeded') throw new Error(`${name}: no success event (${JSON.stringify(invocation.response)})`);
      results.push({ name, invocation, counts: event.detail.counts });
      console.log(`  ${name}: ${fmt(rate(n, invocation.wallMs))} records/s, ${(invocation.wallMs / 1000).toFixed(1)} s, peak RSS ${invocation.maxRssMb.toFixed(0)} MB, counts ${JSON.stringify(event.detail.counts)}`);
    };

    console.log('Runs of the real handler:');
    await scenario('first load', `crm-data/bench/customers.${FORMAT}`, 0);
    await scenario('forced re-ingest (same content)', `crm-data/bench/customers.${FORMAT}`, 0, { reingest: `bench-${Date.now()}` });
    await scenario('10% of the records changed', `crm-data/bench/customers-changed.${FORMAT}`, 1);

    console.log('Reference points:');
    const copyMs = await copyCeiling(db, n);
    console.log(`  COPY into empty copies of the tables (same indexes): ${fmt(rate(n, copyMs))} rows/s, ${(copyMs / 1000).toFixed(1)} s`);
    const floorMs = await rowAtATimeFloor(db, sample);
    console.log(`  one row at a time (sample of ${fmt(sample)}): ${fmt(rate(sample, floorMs))} rows/s`);
    await db.end();

    const first = rate(n, results[0].invocation.wallMs);
    console.log('\nSummary');
    console.log('| run | records/s | wall time | peak RSS |\n|---|---|---|---|');
    for (const r of results) console.log(`| ${r.name} | ${fmt(rate(n, r.invocation.wallMs))} | ${(r.invocation.wallMs / 1000).toFixed(1)} s | ${r.invocation.maxRssMb.toFixed(0)} MB |`);
    console.log(`| COPY ceiling | ${fmt(rate(n, copyMs))} | ${(copyMs / 1000).toFixed(1)} s | – |`);
    console.log(`| row-at-a-time floor (${fmt(sample)}) | ${fmt(rate(sample, floorMs))} | ${(floorMs / 1000).toFixed(1)} s | – |`);
    console.log(`first load / COPY = ${(first / rate(n, copyMs)).toFixed(2)} (goal ≥ 0.60); first load / row-at-a-time = ${(first / rate(sample, floorMs)).toFixed(1)}x`);
    console.log(`PostgreSQL ${version}, fsync ${fsync}; records ${fmt(n)}`);
  } finally {
    await Promise.all([localS3.close(), sm.close(), eventBridge.close()]);
    await pg.stop();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
