/**
 * Analytics benchmark (not a test):
 *   npx ts-node --project tsconfig.dev.json bench/analytics/run.ts [--customers N] [--misses M] [--hits H] [--only op1,op2]
 *
 * Starts its own durable PostgreSQL (fsync on), loads N customers (default 1,000,000), 3N orders,
 * 1,000 products and their relationships with COPY, then for each operation prints:
 *   - the same SQL run directly with psql (as the analytics reader, in a read-only transaction);
 *   - the bundled handler (assets/analytics-api/index.js, through API Gateway proxy events) on cache
 *     misses (cache=false), p50 and p95;
 *   - the handler on cache hits (DynamoDB: dynalite, in process), p50 and p95.
 * The handler gets a 10-minute query budget here (as a job runner would), so the heavy operations
 * finish at this size instead of answering 504.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { getOperation } from '../../lambda/analytics-api/operations';
import type { Params, QueryRunner } from '../../lambda/analytics-api/operations/types';
import { validateParameters } from '../../lambda/analytics-api/validation';
import { LIBRARY_MIGRATIONS } from '../../lambda/canonical-store/migrations';
import { GroupRole, migrate } from '../../lambda/canonical-store/runner';
import { copyRow } from '../../lambda/shared/copy-text';
import { LOGIN_USERS } from '../../test/support/canonical-db';
import { startLocalDynamoDb } from '../../test/support/local-dynamodb';
import { startLocalPostgres } from '../../test/support/local-postgres';
import { startLocalS3 } from '../../test/support/local-s3';
import { fakeAwsEnvironment, startLocalSecretsManager } from '../../test/support/local-secrets-manager';

const ROOT = path.join(__dirname, '..', '..');
const AS_OF = '2025-12-31';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/* eslint-disable no-bitwise */
/** mulberry32: a small seeded PRNG, so every run loads the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/* eslint-enable no-bitwise */

const ADJECTIVES = ['Blue', 'Green', 'Rapid', 'Silver', 'Northern', 'Bright', 'Global', 'Prime', 'Urban', 'Pacific', 'Golden', 'Summit',
  'Atlas', 'Nova', 'Vertex', 'Cedar', 'Harbor', 'Iron', 'Lunar', 'Royal', 'Solar', 'Swift', 'True', 'United', 'Vivid'];
const NOUNS = ['Analytics', 'Logistics', 'Foods', 'Systems', 'Labs', 'Partners', 'Holdings', 'Industries', 'Health', 'Energy', 'Media',
  'Motors', 'Textiles', 'Pharma', 'Capital', 'Networks', 'Robotics', 'Studios', 'Outfitters', 'Builders', 'Farms', 'Clinics'];
const SUFFIXES = ['Inc', 'GmbH', 'Ltd', 'SA', 'BV', 'AB', 'LLC', 'Group', 'Co', 'AG'];
const INDUSTRIES = ['retail', 'manufacturing', 'software', 'energy', 'logistics', 'finance', 'healthcare', 'media'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE', 'PL', 'JP'];
const SEGMENTS = ['enterprise', 'mid-market', 'smb'];
const STATUSES = ['completed', 'completed', 'completed', 'shipped', 'pending', 'cancelled'];
const CATEGORIES = ['hardware', 'software', 'services', 'training', 'support', 'cloud', 'licenses', 'parts', 'consumables', 'other'];

const pick = <T>(r: () => number, list: readonly T[]) => list[Math.floor(r() * list.length)];
const id = (prefix: string, i: number) => `${prefix}${String(i).padStart(8, '0')}`;

function* entities(customers: number): Generator<string> {
  const r = prng(42);
  for (let i = 1; i <= 1000; i++) {
    const attributes = { name: `${pick(r, ADJECTIVES)} ${pick(r, CATEGORIES)} ${i}`, category: pick(r, CATEGORIES), price: Math.round(r() * 200000) / 100, ...(i > 100 ? { parent_product_id: id('P', i % 100 + 1) } : {}) };
    yield copyRow(['product', 'erp', id('P', i), null, JSON.stringify(attributes), `h${i}`]);
  }
  for (let i = 1; i <= customers; i++) {
    const email = `contact${i}@${pick(r, NOUNS).toLowerCase()}${i % 5000}.example`;
    const parent = i > 1000 && i % 20 === 0 ? id('C', Math.floor(i / 20)) : i === 1 ? id('C', 2) : i === 2 ? id('C', 1) : undefined;
    const attributes = {
      name: `${pick(r, ADJECTIVES)} ${pick(r, NOUNS)} ${pick(r, SUFFIXES)}`,
      email,
      industry: pick(r, INDUSTRIES),
      country: pick(r, COUNTRIES),
      segment: pick(r, SEGMENTS),
      lifetime_value: Math.round(r() * 5_000_000) / 100,
      signup_date: new Date(Date.UTC(2015, 0, 1) + r() * 3650 * 86400000).toISOString().slice(0, 10),
      ...(parent ? { parent_customer_id: parent } : {}),
    };
    yield copyRow(['customer', 'crm', id('C', i), email, JSON.stringify(attributes), `h${i}`]);
    if (i % 50 === 0) {
      // ERP's copy of every 50th customer: same key, a conflicting country for half of them.
      const erp = { ...attributes, country: i % 100 === 0 ? pick(r, COUNTRIES) : attributes.country };
      delete (erp as { parent_customer_id?: string }).parent_customer_id;
      yield copyRow(['customer', 'erp', id('E', i), email, JSON.stringify(erp), `e${i}`]);
    }
  }
  const end = Date.parse(`${AS_OF}T23:59:59Z`);
  for (let i = 1; i <= customers * 3; i++) {
    const orphan = i % 1000 === 7;
    const day = end - Math.floor(r() * 730) * 86400000;
    const weekday = new Date(day).getUTCDay();
    const amount = Math.round((20 + r() * 2000) * (weekday === 1 ? 1.4 : 1) * 100) / 100;
    const attributes = {
      customer_id: orphan ? `X${i}` : id('C', 1 + Math.floor(r() * customers)),
      order_date: new Date(day).toISOString(),
      amount,
      currency: 'USD',
      status: pick(r, STATUSES),
      product_id: id('P', 1 + Math.floor(r() * 1000)),
      quantity: 1 + Math.floor(r() * 5),
    };
    yield copyRow(['order', 'erp', id('O', i), null, JSON.stringify(attributes), `o${i}`]);
  }
}

async function copyInto(client: Client, table: string, columns: string[], rows: Iterable<string>): Promise<number> {
  let n = 0;
  const counted = (function* () {
    for (const row of rows) {
      n++;
      yield row;
    }
  })();
  await pipeline(Readable.from(counted), client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`)));
  return n;
}

async function load(adminUrl: string, customers: number): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await migrate(client, { sets: [{ namespace: 'library', migrations: LIBRARY_MIGRATIONS }], loginUsers: LOGIN_USERS });
    let t = Date.now();
    const n = await copyInto(client, 'canonical.entities', ['entity_type', 'source_system', 'source_id', 'canonical_key', 'attributes', 'content_hash'], entities(customers));
    console.log(`loaded ${n} entities in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    // Relationships from the attributes, as ingestion records them.
    await client.query(`
      INSERT INTO canonical.relationships (rel_type, from_entity_type, from_source_system, from_source_id, to_entity_type, to_source_system, to_source_id)
      SELECT 'placed_by', 'order', source_system, source_id, 'customer', 'crm', attributes ->> 'customer_id' FROM canonical.entities WHERE entity_type = 'order'
      UNION ALL
      SELECT 'contains', 'order', source_system, source_id, 'product', 'erp', attributes ->> 'product_id' FROM canonical.entities WHERE entity_type = 'order'
      UNION ALL
      SELECT 'parent', entity_type, source_system, source_id, entity_type, source_system, coalesce(attributes ->> 'parent_customer_id', attributes ->> 'parent_product_id')
      FROM canonical.entities WHERE entity_type IN ('customer', 'product') AND (attributes ? 'parent_customer_id' OR attributes ? 'parent_product_id')`);
    console.log(`relationships in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await client.query('VACUUM ANALYZE');
    await client.query('SELECT canonical.bump_data_generation()');
    console.log(`VACUUM ANALYZE in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    await client.end();
  }
}

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

/** The statements an operation runs, with their values, recorded without a database. */
async function statementsOf(c: Case): Promise<Array<{ text: string; values: readonly unknown[] }>> {
  const op = getOperation(c.operation)!;
  const params = validateParameters(op, c.parameters, false);
  await op.prepare?.(params);
  if (op.plan.kind === 'tabular') return [op.plan.query(params)];
  const recorded: Array<{ text: string; values: readonly unknown[] }> = [];
  // A real connection answers the statements (composite operations use earlier results).
  const client = new Client({ connectionString: process.env.BENCH_ANALYTICS_URL });
  await client.connect();
  try {
    await client.query("BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL statement_timeout = 0");
    const db: QueryRunner = {
      async rows<R>(text: string, values: readonly unknown[] = []) {
        recorded.push({ text, values });
        return (await client.query({ text, values: values as unknown[] })).rows as R[];
      },
    };
    await op.plan.run(db, params);
  } finally {
    await client.end();
  }
  return recorded;
}

/** Inlines bind values as literals (for psql). */
function inline(text: string, values: readonly unknown[]): string {
  const literal = (v: unknown): string => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    const s = Array.isArray(v) ? `{${v.map((x) => `"${String(x).replace(/(["\\])/g, '\\$1')}"`).join(',')}}` : String(v);
    return `'${s.replace(/'/g, "''")}'`;
  };
  return text.replace(/\$(\d+)\b/g, (_, n) => literal(values[Number(n) - 1]));
}

function psqlMs(url: string, statements: Array<{ text: string; values: readonly unknown[] }>): number {
  const script = [
    '\\set ON_ERROR_STOP on',
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0; SET LOCAL TimeZone = 'UTC';",
    '\\o /dev/null',
    '\\timing on',
    ...statements.map((s) => `${inline(s.text, s.values).trim()};`),
    '\\timing off',
    'ROLLBACK;',
  ].join('\n');
  const file = path.join(os.tmpdir(), `cdp-bench-${process.pid}.sql`);
  fs.writeFileSync(file, script);
  const out = execFileSync('psql', ['-X', '-q', '-f', file, url], { encoding: 'utf8', maxBuffer: 1024 ** 3 });
  return [...out.matchAll(/Time: ([0-9.]+) ms/g)].reduce((a, m) => a + Number(m[1]), 0);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

async function main(): Promise<void> {
  const customers = arg('customers', 1_000_000);
  const misses = arg('misses', 5);
  const hits = arg('hits', 50);
  if (!fs.existsSync(path.join(ROOT, 'assets', 'analytics-api', 'index.js'))) throw new Error('assets/analytics-api is missing: run `npx projen bundle analytics-api` first');
  console.log(`analytics benchmark: ${customers} customers, ${customers * 3} orders (${os.cpus().length} CPUs, PostgreSQL with fsync on)`);
  const pg = await startLocalPostgres({ fast: false });
  const sm = await startLocalSecretsManager();
  const ddb = await startLocalDynamoDb();
  const s3 = await startLocalS3(['results-bucket']);
  try {
    const started = Date.now();
    await load(pg.adminUrl, customers);
    console.log(`data ready in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    await ddb.createTable('analytics-cache', 'cacheKey');
    const admin = new URL(pg.adminUrl);
    const analyticsUser = LOGIN_USERS.find((u) => u.group === GroupRole.ANALYTICS)!;
    const readerUser = LOGIN_USERS.find((u) => u.group === GroupRole.SQL_READER)!;
    const urlFor = (u: { username: string; password: string }) => {
      const url = new URL(pg.adminUrl);
      url.username = u.username;
      url.password = u.password;
      return url.toString();
    };
    process.env.BENCH_ANALYTICS_URL = urlFor(analyticsUser);
    Object.assign(process.env, fakeAwsEnvironment(), {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      DB_HOST: admin.hostname,
      DB_PORT: admin.port,
      DB_NAME: admin.pathname.slice(1) || 'postgres',
      DB_TLS: 'disable',
      DB_SECRET_ARN: sm.put('analytics', { username: analyticsUser.username, password: analyticsUser.password }),
      SQL_READER_SECRET_ARN: sm.put('reader', { username: readerUser.username, password: readerUser.password }),
      CACHE_TABLE_NAME: 'analytics-cache',
      RESULTS_BUCKET: s3.bucket,
      QUERY_TIMEOUT_MS: '600000',
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { handler } = require(path.join(ROOT, 'assets', 'analytics-api', 'index.js')) as typeof import('../../lambda/analytics-api/index');
    const call = async (c: Case, cache: boolean) => {
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
      return { ms, meta: JSON.parse(r.body).meta };
    };
    await call(CASES[0], false); // cold start: pools, secrets, module loading

    const rows: string[][] = [['operation', 'psql (raw SQL)', 'handler miss p50', 'miss p95', 'miss / raw', 'hit p50', 'hit p95', 'rows']];
    const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : undefined;
    for (const c of CASES.filter((x) => !only || only.includes(x.operation))) {
      const url = c.operation === 'custom_complex_query' ? urlFor(readerUser) : urlFor(analyticsUser);
      const statements = await statementsOf(c);
      const n = c.heavy ? Math.min(misses, 3) : misses * 2;
      const raw: number[] = [];
      const miss: number[] = [];
      let rowCount = 0;
      // Interleaved, so that caches warm equally for both.
      for (let i = 0; i < n; i++) {
        raw.push(psqlMs(url, statements));
        const m = await call(c, false);
        miss.push(m.ms);
        rowCount = m.meta.rowCount;
      }
      await call(c, true); // fills the cache
      const hit: number[] = [];
      for (let i = 0; i < hits; i++) {
        const h = await call(c, true);
        if (h.meta.cache !== 'hit') throw new Error(`${c.label}: expected a cache hit, got ${h.meta.cache}`);
        hit.push(h.ms);
      }
      const rawP50 = pct(raw, 50);
      rows.push([c.label, fmt(rawP50), fmt(pct(miss, 50)), fmt(pct(miss, 95)), `${(pct(miss, 50) / rawP50).toFixed(2)}×`, fmt(pct(hit, 50)), fmt(pct(hit, 95)), String(rowCount)]);
      console.log(`${c.label}: raw ${fmt(rawP50)}, miss p50 ${fmt(pct(miss, 50))} p95 ${fmt(pct(miss, 95))}, hit p50 ${fmt(pct(hit, 50))} p95 ${fmt(pct(hit, 95))}`);
    }
    console.log(`\n| ${rows[0].join(' | ')} |\n|${rows[0].map(() => '---').join('|')}|`);
    for (const r of rows.slice(1)) console.log(`| ${r.join(' | ')} |`);
    console.log(`\n(raw and misses: ${misses * 2} runs, heavy operations ${Math.min(misses, 3)}; hits: ${hits} runs; handler times are wall time of the handler call)`);
  } finally {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require(path.join(ROOT, 'lambda', 'shared', 'pool-registry')) as typeof import('../../lambda/shared/pool-registry')).closeAllPools().catch(() => undefined);
    await Promise.all([sm.close(), ddb.close(), s3.close()]);
    await pg.stop();
  }
  // The bundled handler's pools live in its own module instance: exit instead of waiting for them.
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

