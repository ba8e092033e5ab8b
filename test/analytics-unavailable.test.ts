/**
 * The database unavailable: /health answers 503 with a reason, operations answer 503
 * DATABASE_UNAVAILABLE (never 500), and a connection killed mid-query is discarded, not reused.
 */
import { Harness, startHarness } from './fixtures/analytics/harness';
import { freePort } from './support/local-postgres';

describe('a database that refuses connections', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ seed: false, env: { DB_PORT: String(await freePort()) } });
  });
  afterAll(async () => h?.close());

  test('/health is 503 with the reason', async () => {
    const r = await h.call({ path: '/health' });
    expect(r.statusCode).toBe(503);
    expect(r.json.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', details: { database: { status: 'unavailable', reason: expect.stringMatching(/unavailable/) } } });
    expect(r.headers!['retry-after']).toBe('5');
  });

  test('an operation is 503 DATABASE_UNAVAILABLE, retryable; validation still answers 400 first', async () => {
    const r = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'simple_demo' } });
    expect(r.statusCode).toBe(503);
    expect(r.json.error.code).toBe('DATABASE_UNAVAILABLE');
    expect(r.headers!['retry-after']).toBeDefined();
    const bad = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'simple_demo', parameters: { limit: 'x' } } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('a connection terminated mid-query', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { QUERY_TIMEOUT_MS: '20000' } });
  });
  afterAll(async () => h?.close());

  test('answers 503, and the next request gets a fresh connection', async () => {
    const slow = h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: { sql: 'SELECT count(*) FROM generate_series(1, 2000000000)' }, cache: false } });
    let killed = 0;
    for (let i = 0; i < 100 && killed === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { rows } = await h.db.pool.query(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND usename = 'pipeline_sql_reader' AND query LIKE '%generate_series%' AND pid <> pg_backend_pid()`);
      killed = rows[0].n;
    }
    expect(killed).toBe(1);
    const r = await slow;
    expect(r.statusCode).toBe(503);
    expect(r.json.error.code).toBe('DATABASE_UNAVAILABLE');
    const next = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: { sql: 'SELECT 1 AS one' }, cache: false } });
    expect(next.statusCode).toBe(200);
    expect(next.json.data).toEqual([{ one: 1 }]);
  });
});
