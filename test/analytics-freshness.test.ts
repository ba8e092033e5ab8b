/**
 * Freshness rule of the typed storage (issue 18): every answer says which data generation it
 * reflects; while the refresh after a committed generation is pending (or failing), answers come
 * from the generation the typed storage reflects and say `stale: true` with the latest generation;
 * once refreshed, the next answer reflects the new data (a cache miss under the new generation).
 */
import { Harness, startHarness } from './fixtures/analytics/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { CACHE_TTL_SECONDS: '600' } });
});
afterAll(async () => h?.close());

const revenue = { period: 'month', segment_by: 'segment' };
const run = (cache = true) => h.call({ method: 'POST', path: '/analytics', body: { operation: 'revenue_analysis', parameters: revenue, cache } });
const total = (body: any) => body.data.reduce((a: number, r: any) => a + Number(r.revenue), 0);

const newOrder = (id: string, amount: number) => ({
  entityType: 'order',
  sourceSystem: 'erp',
  sourceId: id,
  attributes: { customer_id: 'C1', order_date: '2024-03-05T10:00:00Z', amount, currency: 'USD', status: 'completed', product_id: 'P1', quantity: 1 },
  relationships: [{ type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: 'C1' }],
});

test('an answer right after generation N+1 commits, before the refresh, is labelled stale with N; after the refresh it reflects N+1', async () => {
  const first = await run();
  expect(first.statusCode).toBe(200);
  const n = first.json.meta.dataGeneration;
  expect(first.json.meta).toMatchObject({ stale: false });
  expect(first.json.meta.latestDataGeneration).toBeUndefined();

  const next = await h.ingest([newOrder('O-FRESH-1', 500)], { refresh: false });
  expect(next).toBe(n + 1);

  // The cached answer of N is served, and says it is N while N+1 is committed.
  const pending = await run();
  expect(pending.json.meta).toMatchObject({ cache: 'hit', dataGeneration: n, stale: true, latestDataGeneration: n + 1 });
  expect(total(pending.json)).toBeCloseTo(total(first.json), 2);
  // So does a computed one: the typed storage does not have the new order yet.
  const computed = await run(false);
  expect(computed.json.meta).toMatchObject({ cache: 'bypass', dataGeneration: n, stale: true, latestDataGeneration: n + 1 });
  expect(total(computed.json)).toBeCloseTo(total(first.json), 2);

  await h.refresh();
  const fresh = await run();
  expect(fresh.json.meta).toMatchObject({ cache: 'miss', dataGeneration: n + 1, stale: false });
  expect(total(fresh.json) - total(first.json)).toBeCloseTo(500, 2);
});

test('custom SQL over the public views is labelled the same way', async () => {
  const sql = { sql: "SELECT count(*) AS n FROM orders WHERE source_id LIKE 'O-FRESH-%'" };
  const call = () => h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: sql, cache: false } });
  const before = await call();
  expect(before.json.meta.stale).toBe(false);
  const count = Number(before.json.data[0].n);
  const generation = await h.ingest([newOrder('O-FRESH-2', 7)], { refresh: false });
  const pending = await call();
  expect(pending.json.meta).toMatchObject({ stale: true, latestDataGeneration: generation, dataGeneration: generation - 1 });
  expect(Number(pending.json.data[0].n)).toBe(count);
  await h.refresh();
  const fresh = await call();
  expect(fresh.json.meta).toMatchObject({ stale: false, dataGeneration: generation });
  expect(Number(fresh.json.data[0].n)).toBe(count + 1);
});
