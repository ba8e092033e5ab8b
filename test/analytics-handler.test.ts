/**
 * The analytics API handler end to end: real API Gateway proxy events, real PostgreSQL seeded with
 * a small data set whose answers are computed independently (test/fixtures/analytics/expected.ts),
 * the cache in a local DynamoDB, large results in a local S3.
 */
import { gunzipSync } from 'zlib';
import { UpdateItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CUSTOMERS, ORDERS, PRODUCTS } from './fixtures/analytics/dataset';
import * as expected from './fixtures/analytics/expected';
import { CACHE_TABLE, Harness, startHarness } from './fixtures/analytics/harness';

const USER_OPERATIONS = [
  {
    name: 'customers_in_country',
    sql: `SELECT source_id, name, lifetime_value FROM canonical.customers
          WHERE country = :country AND coalesce(lifetime_value, 0) >= :min_value ORDER BY source_id`,
    parameterSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['country'],
      properties: { country: { type: 'string', pattern: '^[A-Z]{2}$' }, min_value: { type: 'number', default: 0 } },
    },
  },
  { name: 'broken_op', sql: 'DELETE FROM canonical.entities', parameterSchema: { type: 'object' } },
  // Seconds of CPU whatever the data: past a short synchronous attempt.
  { name: 'slow_count', sql: 'SELECT count(*) AS n FROM generate_series(1, 20000000) g', parameterSchema: { type: 'object' }, longRunning: true },
];

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    env: {
      LARGE_RESULT_MAX_ROWS: '1000',
      LARGE_RESULT_MAX_BYTES: '500000',
      USER_OPERATIONS: JSON.stringify(USER_OPERATIONS),
      CACHE_TTL_SECONDS: '600',
    },
  });
});
afterAll(async () => h?.close());

const run = (operation: string, parameters: Record<string, unknown> = {}, cache = false) =>
  h.call({ method: 'POST', path: '/analytics', body: { operation, parameters, cache } });

function expectOk(response: { statusCode: number; body: string }) {
  if (response.statusCode !== 200) throw new Error(`expected 200, got ${response.statusCode}: ${response.body}`);
}

describe('routes', () => {
  test('GET /health: the database answers, with its latency', async () => {
    const r = await h.call({ path: '/health' });
    expectOk(r);
    expect(r.json.data).toMatchObject({ status: 'ok', database: { status: 'ok' } });
    expect(r.json.data.database.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.json.meta.requestId).toMatch(/^req-/);
  });

  test('responses carry JSON, no-store and CORS for an allowed origin only', async () => {
    const allowed = await h.call({ path: '/health', headers: { origin: 'https://app.example.com' } });
    expect(allowed.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'access-control-allow-origin': 'https://app.example.com' });
    const other = await h.call({ path: '/health', headers: { origin: 'https://evil.example' } });
    expect(other.headers!['access-control-allow-origin']).toBeUndefined();
  });

  test('GET /analytics with query-string parameters (coerced to the schema types)', async () => {
    const r = await h.call({ path: '/analytics', query: { operation: 'customer_analysis', metric: 'order_count', group_by: 'country', min_group_size: '2', cache: 'false' } });
    expectOk(r);
    expect(r.json.meta).toMatchObject({ operation: 'customer_analysis', cache: 'bypass', dataGeneration: 1 });
    const want = expected.customerAnalysis('order_count', 'country', 2);
    expect(r.json.data.map((x: any) => x.group_value).sort()).toEqual(want.map((x) => x.group_value).sort());
  });

  test('an unknown route is 404 and a wrong method 405, in the error shape', async () => {
    const r = await h.call({ path: '/nope' });
    expect(r.statusCode).toBe(404);
    expect(r.json).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) }, requestId: expect.stringMatching(/^req-/) });
    const m = await h.call({ method: 'DELETE', path: '/analytics' });
    expect(m.statusCode).toBe(405);
    expect(m.json.error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('operations return the independently computed answers', () => {
  test('simple_demo', async () => {
    const r = await run('simple_demo', { limit: 3 });
    expectOk(r);
    const counts = Object.fromEntries(r.json.data.entity_counts.map((c: any) => [c.entity_type, c.entities]));
    expect(counts).toEqual({ customer: CUSTOMERS.length, order: ORDERS.length, product: PRODUCTS.length, health_reading: 6 });
    expect(r.json.data.sample).toHaveLength(3);
    expect(r.json.meta.rowCount).toBe(4 + 3);
  });

  test('database_info', async () => {
    const r = await run('database_info', { exact_counts: true });
    expectOk(r);
    const d = r.json.data;
    expect(d.data_generation.generation).toBe(1);
    const entities = d.relations.find((x: any) => x.name === 'entities');
    expect(entities).toMatchObject({ kind: 'table', exact_rows: CUSTOMERS.length + ORDERS.length + PRODUCTS.length + 6 });
    expect(d.relations.filter((x: any) => x.kind === 'view').map((x: any) => x.name)).toEqual(expect.arrayContaining(['customers', 'orders', 'products', 'health_readings']));
    expect(d.entity_counts).toContainEqual(expect.objectContaining({ entity_type: 'customer', source_system: 'erp', entities: 3 }));
    expect(d.indexes.map((i: any) => i.name)).toContain('entities_name_trgm_idx');
    expect(d.database.server_version).toMatch(/^1[5-9]/);
  });

  test.each([
    ['lifetime_value', 'segment', 1],
    ['revenue', 'country', 1],
    ['order_count', 'industry', 2],
    ['average_order_value', 'segment', 1],
    ['revenue', 'source_system', 1],
  ] as const)('customer_analysis metric=%s group_by=%s min_group_size=%d', async (metric, groupBy, min) => {
    const r = await run('customer_analysis', { metric, group_by: groupBy, min_group_size: min });
    expectOk(r);
    const want = expected.customerAnalysis(metric, groupBy as any, min);
    expect(r.json.data).toHaveLength(want.length);
    for (const w of want) {
      const got = r.json.data.find((x: any) => x.group_value === w.group_value);
      expect(got).toBeDefined();
      expect(got).toMatchObject({ customers: w.customers, customers_with_value: w.customers_with_value, rank: w.rank });
      for (const k of ['total', 'average', 'median', 'minimum', 'maximum', 'share_pct'] as const) {
        if (w[k] === null) expect(got[k]).toBeNull();
        else expect(got[k]).toBeCloseTo(w[k]!, 2);
      }
    }
  });

  test.each([
    ['month', 'none'],
    ['quarter', 'segment'],
    ['month', 'status'],
  ] as const)('revenue_analysis period=%s segment_by=%s', async (period, segmentBy) => {
    const r = await run('revenue_analysis', { period, segment_by: segmentBy, exclude_statuses: segmentBy === 'status' ? ['cancelled'] : undefined });
    expectOk(r);
    const want = expected.revenueAnalysis(period, segmentBy);
    expect(r.json.data).toHaveLength(want.length);
    for (const w of want) {
      const got = r.json.data.find((x: any) => x.period_start === w.period_start && x.segment === w.segment);
      expect(got).toBeDefined();
      const { orders, previous_revenue, growth_pct, rank_in_period } = w;
      expect(got).toMatchObject({ orders, previous_revenue, growth_pct, rank_in_period });
      expect(got.revenue).toBeCloseTo(w.revenue, 2);
      expect(got.running_total).toBeCloseTo(w.running_total, 2);
      expect(got.moving_average).toBeCloseTo(w.moving_average, 2);
      expect(got.share_of_period_pct).toBeCloseTo(w.share_of_period_pct, 2);
    }
  });

  test('revenue_analysis with a date range', async () => {
    const r = await run('revenue_analysis', { period: 'month', from: '2024-03-01', to: '2024-04-30' });
    expectOk(r);
    expect(r.json.data.map((x: any) => x.period_start)).toEqual(['2024-03-01', '2024-04-01']);
    const march = expected.revenueAnalysis('month', 'none').find((x) => x.period_start === '2024-03-01')!;
    expect(r.json.data[0].revenue).toBeCloseTo(march.revenue, 2);
  });

  test('multi_dimensional_analytics: CUBE totals, daily series, spikes, trend and seasonality', async () => {
    const r = await run('multi_dimensional_analytics', { timeframe: '3 months', as_of: '2024-08-31', dimensions: ['segment', 'status'], moving_window_days: 7, spike_z_threshold: 2 });
    expectOk(r);
    const want = expected.multiDimensional('2024-08-31', 3, ['segment', 'status']);
    const d = r.json.data;
    expect(d.window).toEqual({ from: '2024-06-01', to: '2024-08-31' });
    expect(d.summary).toHaveLength(want.summary.length);
    for (const w of want.summary) {
      const got = d.summary.find((s: any) => s.dimensions.map((k: string) => `${k}=${s[k]}`).join(',') === w.key);
      expect(got).toBeDefined();
      expect(got).toMatchObject({ orders: w.orders, customers: w.customers });
      expect(got.revenue).toBeCloseTo(w.revenue, 2);
      expect(got.average_order_value).toBeCloseTo(w.average_order_value, 2);
    }
    expect(d.timeSeries).toHaveLength(want.days.length);
    d.timeSeries.forEach((day: any, i: number) => {
      expect(day.day).toBe(want.days[i].day);
      expect(day.revenue).toBeCloseTo(want.days[i].revenue, 2);
      if (want.days[i].z_score === null) expect(day.z_score).toBeNull();
      else expect(day.z_score).toBeCloseTo(want.days[i].z_score!, 2);
    });
    expect(d.spikes.map((s: any) => s.day)).toEqual(want.spikes);
    expect(want.spikes.length).toBeGreaterThan(0);
    expect(d.trend.slope_per_day).toBeCloseTo(want.slope, 3);
    for (const w of d.seasonality.by_weekday) expect(w.index).toBeCloseTo(want.weekdayIndex[w.iso_weekday], 2);
    expect(d.seasonality.by_month.map((m: any) => m.month)).toEqual([6, 7, 8]);
  });

  test('multi_dimensional_analytics: ROLLUP and GROUPING SETS give the expected grouping levels', async () => {
    const rollup = await run('multi_dimensional_analytics', { timeframe: '12 months', as_of: '2024-12-31', dimensions: ['segment', 'status'], grouping: 'rollup' });
    expectOk(rollup);
    const levels = new Set(rollup.json.data.summary.map((s: any) => s.dimensions.join('+')));
    expect([...levels].sort()).toEqual(['', 'segment', 'segment+status']);
    const sets = await run('multi_dimensional_analytics', { timeframe: '12 months', as_of: '2024-12-31', dimensions: ['country', 'status'], grouping: 'grouping_sets' });
    expectOk(sets);
    expect([...new Set(sets.json.data.summary.map((s: any) => s.dimensions.join('+')))].sort()).toEqual(['', 'country', 'status']);
    const total = sets.json.data.summary.find((s: any) => s.dimensions.length === 0);
    const counted = ORDERS.filter((o) => !expected.EXCLUDED.includes(o.status));
    expect(total.orders).toBe(counted.length);
    expect(total.revenue).toBeCloseTo(expected.sum(counted.map((o) => o.amount)), 2);
  });

  test('relationship_analysis: hierarchies, depth, descendants totals, cycles, dangling parents', async () => {
    const r = await run('relationship_analysis', { entity_type: 'customer' });
    expectOk(r);
    const want = expected.customerHierarchies();
    const d = r.json.data;
    expect(d.summary).toMatchObject({
      entities: want.entities,
      parent_links: want.parentLinks,
      dangling_parent_references: want.dangling,
      hierarchies: want.hierarchies.length,
      standalone: want.standalone,
      max_depth: want.maxDepth,
      cycles: want.cycles.length,
      entities_in_cycles: want.cycles.flat().length,
    });
    for (const w of want.hierarchies) {
      const got = d.hierarchies.find((x: any) => `${x.source_system}:${x.source_id}` === w.id);
      expect(got).toMatchObject({ descendants: w.descendants, depth: w.depth });
      expect(got.descendants_total).toBeCloseTo(w.descendantsTotal, 2);
    }
    expect(d.cycles.map((c: any[]) => c.map((e) => `${e.source_system}:${e.source_id}`).sort())).toEqual(want.cycles);
    expect(Object.fromEntries(d.depth_distribution.map((x: any) => [x.depth, x.entities]))).toEqual(want.depthCounts);
  });

  test('relationship_analysis: one subtree with per-node totals; unknown root is 404', async () => {
    const r = await run('relationship_analysis', { entity_type: 'customer', root_id: 'C1', root_source_system: 'crm' });
    expectOk(r);
    const nodes = Object.fromEntries(r.json.data.nodes.map((n: any) => [n.source_id, n]));
    expect(Object.keys(nodes).sort()).toEqual(['C1', 'C2', 'C3', 'C4']);
    expect(nodes.C2).toMatchObject({ depth: 1, parent_source_id: 'C1', descendants: 1, subtree_total: 45000 + 9000 });
    expect(nodes.C1).toMatchObject({ depth: 0, descendants: 3, subtree_total: 120000 + 45000 + 9000 + 15000 });
    const products = await run('relationship_analysis', { entity_type: 'product' });
    expectOk(products);
    expect(products.json.data.summary).toMatchObject({ entities: 5, parent_links: 3, hierarchies: 2, cycles: 0 });
    const missing = await run('relationship_analysis', { root_id: 'nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json.error.code).toBe('NOT_FOUND');
  });

  test('data_integrity_analysis: duplicates, conflicts, orphans, completeness, validity and scores', async () => {
    const r = await run('data_integrity_analysis', { similarity_threshold: 0.5 });
    expectOk(r);
    const d = r.json.data;
    const wantPairs = expected.fuzzyCustomerPairs(0.5);
    expect(d.fuzzy_duplicates).toHaveLength(wantPairs.length);
    for (const w of wantPairs) {
      const got = d.fuzzy_duplicates.find((p: any) => [p.a_source_id, p.b_source_id].sort().join() === [w.a, w.b].sort().join());
      expect(got).toBeDefined();
      expect(got.similarity).toBeCloseTo(w.similarity, 2);
    }
    const want = expected.quality();
    expect(d.orphans.total).toBe(want.orphans.length);
    expect(d.orphans.sample.map((o: any) => o.source_id).sort()).toEqual([...want.orphans].sort());
    expect([...new Set(d.conflicts.map((c: any) => c.canonical_key))]).toEqual(want.conflictKeys);
    expect(d.conflicts).toContainEqual(expect.objectContaining({ attribute: 'country', values: expect.arrayContaining([expect.objectContaining({ source_system: 'crm', value: 'US' }), expect.objectContaining({ source_system: 'erp', value: 'CA' })]) }));
    for (const w of want.sources) {
      const got = d.sources.find((s: any) => s.entity_type === w.entity_type && s.source_system === w.source_system);
      expect(got).toBeDefined();
      expect(got).toMatchObject({ entities: w.entities, failed_checks: w.failed });
      expect(got.completeness_pct).toBeCloseTo(w.completeness_pct, 2);
      expect(got.validity_pct).toBeCloseTo(w.validity_pct, 2);
      expect(got.consistency_pct).toBeCloseTo(w.consistency_pct, 2);
      expect(got.quality_score).toBeCloseTo(w.quality_score, 1);
    }
    expect(d.overall.quality_score).toBeCloseTo(want.overall, 1);
  });

  test('custom_complex_query runs as the restricted reader over the typed views', async () => {
    const r = await run('custom_complex_query', {
      sql: `WITH t AS (SELECT segment, count(*) AS n FROM customers GROUP BY segment)
            SELECT current_user AS who, segment, n FROM t ORDER BY n DESC, segment NULLS LAST`,
    });
    expectOk(r);
    expect(r.json.data[0].who).toBe('pipeline_sql_reader');
    const bySegment = Object.fromEntries(r.json.data.map((x: any) => [x.segment ?? 'null', x.n]));
    expect(bySegment.enterprise).toBe(CUSTOMERS.filter((c) => c.segment === 'enterprise').length);
    expect(r.json.meta.columns.map((c: any) => c.name)).toEqual(['who', 'segment', 'n']);
  });

  test('custom_complex_query: a missing table is 422 with PostgreSQL’s message; the base table is not readable', async () => {
    const missing = await run('custom_complex_query', { sql: 'SELECT * FROM no_such_table' });
    expect(missing.statusCode).toBe(422);
    expect(missing.json.error).toMatchObject({ code: 'QUERY_REJECTED', details: { sqlstate: '42P01' } });
    expect(missing.json.error.message).toContain('relation "no_such_table" does not exist');
    const denied = await run('custom_complex_query', { sql: 'SELECT * FROM canonical.entities' });
    expect(denied.statusCode).toBe(422);
    expect(denied.json.error.details.sqlstate).toBe('42501');
    const column = await run('custom_complex_query', { sql: 'SELECT nope FROM customers' });
    expect(column.statusCode).toBe(422);
    expect(column.json.error.details.sqlstate).toBe('42703');
    const data = await run('custom_complex_query', { sql: "SELECT 'x'::int" });
    expect(data.statusCode).toBe(422);
    expect(data.json.error.details.sqlstate).toBe('22P02');
  });

  test('custom_complex_query: the row limit truncates', async () => {
    const r = await run('custom_complex_query', { sql: 'SELECT g FROM generate_series(1, 50) g', max_rows: 10 });
    expectOk(r);
    expect(r.json.data).toHaveLength(10);
    expect(r.json.meta).toMatchObject({ rowCount: 10, truncated: true });
  });

  test('a query running past the statement timeout is 504', async () => {
    process.env.QUERY_TIMEOUT_MS = '700';
    try {
      const started = Date.now();
      const r = await run('custom_complex_query', { sql: 'SELECT count(*) FROM generate_series(1, 1000000000)' });
      expect(r.statusCode).toBe(504);
      expect(r.json.error.code).toBe('QUERY_TIMEOUT');
      expect(r.headers!['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      delete process.env.QUERY_TIMEOUT_MS;
    }
  });

  test('user-defined operations: parameterized SQL from the props, validated parameters', async () => {
    const r = await h.call({ path: '/analytics', query: { operation: 'customers_in_country', country: 'US', min_value: '10000' } });
    expectOk(r);
    const want = CUSTOMERS.filter((c) => c.country === 'US' && (c.lifetime_value ?? 0) >= 10000).map((c) => c.id).sort();
    expect(r.json.data.map((x: any) => x.source_id).sort()).toEqual(want);
    const bad = await h.call({ path: '/analytics', query: { operation: 'customers_in_country', country: "US' OR 1=1 --" } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json.error.details[0].path).toBe('parameters.country');
    const broken = await run('broken_op');
    expect(broken.statusCode).toBe(500);
    expect(broken.json.error.message).toMatch(/misconfigured.*DELETE/);
  });
});

describe('cache', () => {
  const params = { metric: 'revenue', group_by: 'segment', min_group_size: 1 };

  test('miss, then hit (parameters normalized), bypass with cache=false', async () => {
    const first = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'customer_analysis', parameters: params } });
    expectOk(first);
    expect(first.json.meta.cache).toBe('miss');
    const reordered = { min_group_size: 1, group_by: 'segment', metric: 'revenue', exclude_statuses: expected.EXCLUDED };
    const second = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'customer_analysis', parameters: reordered } });
    expect(second.json.meta.cache).toBe('hit');
    expect(second.json.data).toEqual(first.json.data);
    const viaGet = await h.call({ path: '/analytics', query: { operation: 'customer_analysis', metric: 'revenue', group_by: 'segment' } });
    expect(viaGet.json.meta.cache).toBe('hit');
    const bypass = await h.call({ path: '/analytics', query: { operation: 'customer_analysis', metric: 'revenue', group_by: 'segment', cache: 'false' } });
    expect(bypass.json.meta.cache).toBe('bypass');
    expect(bypass.json.data).toEqual(first.json.data);
  });

  test('an expired item is not served (the handler checks expiry itself)', async () => {
    const p = { metric: 'lifetime_value', group_by: 'country' };
    expect((await run('customer_analysis', p, true)).json.meta.cache).toBe('miss');
    expect((await run('customer_analysis', p, true)).json.meta.cache).toBe('hit');
    const { Items } = await h.ddb.client.send(new ScanCommand({ TableName: CACHE_TABLE }));
    for (const item of Items ?? []) {
      await h.ddb.client.send(new UpdateItemCommand({
        TableName: CACHE_TABLE,
        Key: { cacheKey: item.cacheKey },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': { N: String(Math.floor(Date.now() / 1000) - 1) } },
      }));
    }
    expect((await run('customer_analysis', p, true)).json.meta.cache).toBe('miss');
  });

  test('new data (a new data generation) is never served from the old cache', async () => {
    const p = { metric: 'revenue', group_by: 'segment' };
    const before = await run('customer_analysis', p, true);
    expect((await run('customer_analysis', p, true)).json.meta.cache).toBe('hit');
    const generation = await h.ingest([{
      entityType: 'order',
      sourceSystem: 'erp',
      sourceId: 'O-NEW',
      attributes: { customer_id: 'C7', order_date: '2024-09-01T00:00:00Z', amount: 1000, currency: 'USD', status: 'completed', product_id: 'P1', quantity: 1 },
      relationships: [{ type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: 'C7' }],
    }]);
    const after = await run('customer_analysis', p, true);
    expect(after.json.meta).toMatchObject({ cache: 'miss', dataGeneration: generation });
    const smb = (x: any) => x.json.data.find((g: any) => g.group_value === 'smb').total;
    expect(smb(after) - smb(before)).toBeCloseTo(1000, 2);
    await h.db.pool.query('DELETE FROM canonical.relationships WHERE from_source_id = \'O-NEW\'');
    await h.db.pool.query('DELETE FROM canonical.entities WHERE source_id = \'O-NEW\'');
    await h.db.pool.query('SELECT canonical.bump_data_generation()');
    await h.refresh();
  });
});

describe('large results', () => {
  test('a result over the row threshold streams to S3; the download route redirects to a presigned URL', async () => {
    const r = await run('custom_complex_query', { sql: "SELECT g AS n, md5(g::text) AS hash, repeat('x', 20) AS pad FROM generate_series(1, 5000) g", max_rows: 100000 });
    expectOk(r);
    expect(r.json.meta).toMatchObject({ largeResult: true, rowCount: 5000 });
    const { downloadUrl, key, rowCount, expiresAt } = r.json.data;
    expect(rowCount).toBe(5000);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    expect(downloadUrl).toBe(`https://abc123.execute-api.us-east-1.amazonaws.com/prod/download/${key}`);

    const redirect = await h.call({ path: `/download/${key}` });
    expect(redirect.statusCode).toBe(302);
    const location = redirect.headers!.location as string;
    expect(location).toContain(h.s3.endpoint);
    expect(location).toContain('X-Amz-Signature');
    const download = await fetch(location);
    expect(download.status).toBe(200);
    const body = await download.json() as any;
    expect(body).toMatchObject({ operation: 'custom_complex_query', rowCount: 5000, truncated: false });
    expect(body.data).toHaveLength(5000);
    expect(body.data[4999]).toMatchObject({ n: 5000 });

    const stored = await h.s3.client().send(new GetObjectCommand({ Bucket: h.s3.bucket, Key: `results/${key}.json` }));
    expect(stored.ContentEncoding).toBe('gzip');
    const json = JSON.parse(gunzipSync(Buffer.from(await stored.Body!.transformToByteArray())).toString());
    expect(json.columns.map((c: any) => c.name)).toEqual(['n', 'hash', 'pad']);
  });

  test('a bounded operation over the threshold (buffered, run in one go) also goes to S3', async () => {
    process.env.LARGE_RESULT_MAX_ROWS = '5';
    try {
      const r = await run('revenue_analysis', { period: 'day' });
      expectOk(r);
      const days = expected.revenueAnalysis('day', 'none');
      expect(r.json.meta).toMatchObject({ largeResult: true, rowCount: days.length });
      const download = await fetch((await h.call({ path: `/download/${r.json.data.key}` })).headers!.location as string);
      const body = await download.json() as any;
      expect(body.data).toHaveLength(days.length);
      expect(body.columns.map((c: any) => c.name)).toContain('running_total');
    } finally {
      delete process.env.LARGE_RESULT_MAX_ROWS;
      process.env.LARGE_RESULT_MAX_ROWS = '1000';
    }
  });

  test('a large result is cached as its pointer', async () => {
    const params = { sql: 'SELECT g FROM generate_series(1, 3000) g', max_rows: 100000 };
    const first = await run('custom_complex_query', params, true);
    expect(first.json.meta).toMatchObject({ cache: 'miss', largeResult: true });
    const second = await run('custom_complex_query', params, true);
    expect(second.json.meta).toMatchObject({ cache: 'hit', largeResult: true });
    expect(second.json.data.key).toBe(first.json.data.key);
  });

  test('unknown or malformed download keys are 404 in the error shape', async () => {
    for (const key of ['A'.repeat(32), 'not-a-key', '..%2F..%2Fetc%2Fpasswd', `${'b'.repeat(31)}$`]) {
      const r = await h.call({ path: `/download/${key}` });
      expect(r.statusCode).toBe(404);
      expect(r.json.error.code).toBe('NOT_FOUND');
    }
  });
});

describe('long-running operations with the job workflow', () => {
  afterEach(() => h.analytics.registerLongRunningDelegate(undefined));

  test('answer 200 when the synchronous attempt completes within its budget: no job', async () => {
    const calls: string[] = [];
    h.analytics.registerLongRunningDelegate(async (prepared) => {
      calls.push(prepared.operation.name);
      return { statusCode: 202, body: '{}' };
    });
    const fast = await run('relationship_analysis', { entity_type: 'product' }, true);
    expect(fast.statusCode).toBe(200);
    expect(fast.json.meta.cache).toBe('miss');
    expect(calls).toEqual([]);
  });

  test('past the budget, the query is cancelled and handed to the delegate (202); the job fills the cache, served on a hit', async () => {
    const calls: string[] = [];
    h.analytics.registerLongRunningDelegate(async (prepared, event) => {
      calls.push(prepared.operation.name);
      // The attempt's statement is no longer running when the job is started.
      const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 20000000)%' AND state = 'active' AND pid <> pg_backend_pid()");
      expect(rows[0].n).toBe(0);
      return { statusCode: 202, body: JSON.stringify({ data: { jobId: 'j1', status: 'SUBMITTED' }, meta: { requestId: event.requestContext.requestId } }) };
    });
    process.env.SYNC_ATTEMPT_MS = '200';
    try {
      const started = Date.now();
      const accepted = await run('slow_count', {}, true);
      expect(accepted.statusCode).toBe(202);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(calls).toEqual(['slow_count']);
    } finally {
      delete process.env.SYNC_ATTEMPT_MS;
    }
    // the job runner computes it (same runner, no delegate involved) and fills the cache
    const prepared = await h.analytics.prepareOperation('slow_count', {});
    await h.analytics.executeOperation(prepared, { timeoutMs: 120_000 });
    const hit = await run('slow_count', {}, true);
    expect(hit.statusCode).toBe(200);
    expect(hit.json.meta.cache).toBe('hit');
    expect(calls).toHaveLength(1);
  }, 180_000);
});
