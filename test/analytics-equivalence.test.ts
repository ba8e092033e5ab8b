/**
 * Issue 18: the built-in analytics operations must return the same results as the queries they
 * had before (kept in test/support/reference-analytics, reading today's typed views pinned by
 * pinned-views.ts). Generated data is written only through the shipped write path
 * (upsertEntities in ingestion transactions, with data generation bumps), then every operation of
 * the parameter matrix runs both ways on the same database and the answers are compared.
 * The second part does the same on a store that held data at migration 0003 and was then
 * upgraded by the migrations that came after it.
 */
import { Client, Pool } from 'pg';
import { CanonicalTestDatabase, createCanonicalDatabase, LOGIN_USERS } from './support/canonical-db';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { LIBRARY_MIGRATIONS } from '../lambda/canonical-store/migrations';
import { GroupRole, migrate } from '../lambda/canonical-store/runner';
import { refreshTypedStorage } from '../lambda/shared/typed-refresh';
import { AS_OF, generateDataSet, writeBatches } from './support/analytics-equivalence/data-set';
import { compareOperation, COMPARED_OPERATIONS, CaseResult } from './support/analytics-equivalence/harness';
import { equivalenceCases } from './support/analytics-equivalence/matrix';
import { REFERENCE_OPERATIONS, createPinnedViews, PINNED_VIEWS, pinnedView } from './support/reference-analytics';
import type { OperationDefinition, Params, SqlQuery } from '../lambda/analytics-api/operations/types';

const SEED = 18;
const CASES = equivalenceCases();
const BATCHES = generateDataSet(SEED);
/** The last migration of the schema a store had before issue 18. */
const BEFORE_ISSUE_18 = '0003_source_id_normalization';

/** Size of an answer (rows, or elements of its lists), to see that the comparisons compare something. */
function sizeOf(result: CaseResult): number {
  const v = result.reference.value;
  if (Array.isArray(v)) return v.length;
  if (v && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + (Array.isArray(x) ? x.length : x && typeof x === 'object' ? 1 : 0), 0);
  return 0;
}

function expectEquivalent(label: string, result: CaseResult): void {
  if (result.diffs.length > 0) throw new Error(`${label}: the shipped operation's answer differs from the reference:\n  ${result.diffs.join('\n  ')}`);
}

/** A reference whose statements are changed by `edit`, and how many statements the edit changed: for the self-checks. */
function mutated(name: string, edit: (sql: string) => string): { op: OperationDefinition; edits: { count: number } } {
  const op = REFERENCE_OPERATIONS.get(name)!;
  const edits = { count: 0 };
  const apply = (sql: string) => {
    const changed = edit(sql);
    if (changed !== sql) edits.count++;
    return changed;
  };
  if (op.plan.kind === 'tabular') {
    const plan = op.plan;
    const query = (p: Params): SqlQuery => ({ ...plan.query(p), text: apply(plan.query(p).text) });
    return { op: { ...op, plan: { ...plan, query } }, edits };
  }
  const run = op.plan.run;
  return { op: { ...op, plan: { kind: 'composite', run: (db, p) => run({ rows: (text, values) => db.rows(apply(text), values) }, p) } }, edits };
}

/**
 * An erasure by the store's owner, then the refresh: a product hierarchy's root with two paths to one
 * child below it, a product and a customer on cycles, and a customer with orders.
 */
async function erase(db: CanonicalTestDatabase): Promise<void> {
  const { rowCount } = await db.pool.query(`DELETE FROM canonical.entities WHERE (entity_type, source_system, source_id) IN
    (('product', 'erp', 'P2'), ('product', 'erp', 'P6'), ('customer', 'crm', 'C2'), ('customer', 'crm', 'C40'))`);
  expect(rowCount).toBe(4);
  await db.pool.query('SELECT canonical.bump_data_generation()');
  const client = await db.poolFor(GroupRole.WRITER).connect();
  try {
    await refreshTypedStorage(client);
  } finally {
    client.release();
  }
}

describe('analytics equivalence with the pre-issue-18 queries', () => {
  let db: CanonicalTestDatabase;
  let analytics: Pool;
  const results: CaseResult[] = [];

  beforeAll(async () => {
    db = await createCanonicalDatabase();
    await writeBatches(db.poolFor(GroupRole.WRITER), BATCHES);
    await erase(db);
    await createPinnedViews(db.pool);
    // VACUUM merges the trigram index's pending list: the fuzzy-duplicate search is ~40x slower without.
    await db.pool.query('VACUUM ANALYZE');
    analytics = db.poolFor(GroupRole.ANALYTICS);
  });
  afterAll(async () => {
    const firstFound = results.filter((r) => r.cut !== undefined);
    // eslint-disable-next-line no-console
    console.log(`analytics equivalence: ${results.length} comparisons, ${results.filter((r) => sizeOf(r) > 0).length} with a non-empty reference answer, `
      + `${results.filter((r) => r.reference.error !== undefined).length} answering an error; ${firstFound.length} with a "first found" list, `
      + `${firstFound.filter((r) => r.cut).length} of them cut by their limit`);
    await db?.drop();
  });

  test('the data set has what the comparisons need', async () => {
    const { rows: [facts] } = await db.pool.query(`
      SELECT
        (SELECT count(*) FROM canonical.entities)::int AS entities,
        (SELECT count(*) FROM canonical.entities WHERE version > 1)::int AS updated_versions,
        (SELECT count(DISTINCT e.id) FROM canonical.entities e JOIN canonical.entity_versions v ON v.entity_id = e.id
          WHERE e.entity_type = 'customer' AND v.attributes ->> 'segment' IS DISTINCT FROM e.attributes ->> 'segment')::int AS customers_changed_segment,
        (SELECT count(*) FROM canonical.relationships r
          JOIN canonical.entities o ON (o.entity_type, o.source_system, o.source_id) = (r.from_entity_type, r.from_source_system, r.from_source_id)
          JOIN canonical.entities c ON (c.entity_type, c.source_system, c.source_id) = (r.to_entity_type, r.to_source_system, r.to_source_id)
          WHERE r.rel_type = 'placed_by' AND o.created_at < c.created_at)::int AS orders_before_customer,
        (SELECT count(*) FROM canonical.relationships r
          JOIN canonical.entities p ON (p.entity_type, p.source_system, p.source_id) = (r.to_entity_type, r.to_source_system, r.to_source_id)
          JOIN canonical.entities ch ON (ch.entity_type, ch.source_system, ch.source_id) = (r.from_entity_type, r.from_source_system, r.from_source_id)
          WHERE r.rel_type = 'parent' AND ch.created_at < p.created_at)::int AS children_before_parent,
        (SELECT count(*) FROM canonical.relationships r WHERE r.rel_type = 'placed_by' AND NOT EXISTS (
          SELECT 1 FROM canonical.entities c WHERE (c.entity_type, c.source_system, c.source_id) = (r.to_entity_type, r.to_source_system, r.to_source_id)))::int AS orphan_orders,
        (SELECT count(*) FROM canonical.entities WHERE entity_type = 'order' AND attributes ? 'amount'
          AND canonical.as_numeric(attributes ->> 'amount') IS NULL)::int AS uncastable_amounts,
        (SELECT count(*) FROM canonical.entities WHERE entity_type = 'order' AND attributes ->> 'status' <> lower(attributes ->> 'status'))::int AS mixed_case_statuses,
        (SELECT count(*) FROM canonical.entities WHERE entity_type = 'customer' AND attributes ->> 'country' ~ '[a-z]')::int AS lower_case_countries,
        (SELECT count(DISTINCT canonical_key) FROM canonical.entities WHERE entity_type = 'customer' AND source_system = 'erp'
          AND canonical_key IN (SELECT canonical_key FROM canonical.entities WHERE entity_type = 'customer' AND source_system = 'crm'))::int AS shared_keys,
        (SELECT generation FROM canonical.data_generation)::int AS generation`);
    expect(facts).toMatchObject({ generation: BATCHES.length }); // the batches but the last (no change), and the erasure
    for (const [fact, n] of Object.entries(facts)) if (fact !== 'generation') expect({ fact, positive: (n as number) > 0 }).toEqual({ fact, positive: true });
  });

  test.each(PINNED_VIEWS)('the typed view canonical.%s returns the rows of its 0001 definition', async (view) => {
    const [live, pinned] = await Promise.all([viewRows(analytics, `canonical.${view}`), viewRows(analytics, pinnedView(view))]);
    expect(pinned.length).toBeGreaterThan(0);
    expect(live).toEqual(pinned);
  });

  test('the aggregates the refreshes kept by their differences equal the aggregates derived from scratch', async () => {
    // Each pair: the maintained table, and the same rows derived from the typed tables (and the relationships).
    const counted = "NOT (lower(coalesce(o.status, '')) = ANY (ARRAY['cancelled', 'canceled', 'refunded', 'failed']))";
    const pairs: Array<[string, string, string]> = [
      ['daily totals', 'SELECT order_day, status, currency, source_system, customer_segment, customer_country, customer_industry, orders, revenue FROM canonical.order_daily_totals',
        `SELECT o.order_day, o.status, o.currency, o.source_system, c.segment, c.country, c.industry, count(*), sum(o.amount)
         FROM canonical.order_facts o LEFT JOIN canonical.customer_facts c ON c.entity_id = o.customer_entity_id
         WHERE o.order_day IS NOT NULL AND o.amount IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7`],
      ['daily status totals', 'SELECT order_day, status, orders, revenue FROM canonical.order_daily_status_totals',
        `SELECT o.order_day, o.status, count(*), sum(o.amount) FROM canonical.order_facts o
         WHERE o.order_day IS NOT NULL AND o.amount IS NOT NULL GROUP BY 1, 2`],
      ['quality counters', 'SELECT entity_type, source_system, filled, failed, entities FROM canonical.quality_counts',
        ['customer', 'order', 'product', 'health_reading'].map((t) => `SELECT '${t}', source_system, filled, failed, count(*) FROM canonical.${t}_facts GROUP BY 2, 3, 4`).join(' UNION ALL ')],
      ['counted order days', 'SELECT customer_entity_id, order_day, previous_day, customer_segment, customer_country, customer_industry FROM canonical.customer_order_days',
        `SELECT d.customer_entity_id, d.order_day, lag(d.order_day) OVER (PARTITION BY d.customer_entity_id ORDER BY d.order_day), c.segment, c.country, c.industry
         FROM (SELECT DISTINCT o.customer_entity_id, o.order_day FROM canonical.order_facts o
               WHERE o.customer_entity_id IS NOT NULL AND o.order_day IS NOT NULL AND o.amount IS NOT NULL AND ${counted}) d
         JOIN canonical.customer_facts c ON c.entity_id = d.customer_entity_id`],
      ['last-day histogram', 'SELECT customer_segment, customer_country, customer_industry, last_day, customers FROM canonical.customer_last_days',
        `SELECT coalesce(c.segment, '(none)'), coalesce(c.country, '(none)'), coalesce(c.industry, '(none)'), l.last_day, count(*)
         FROM (SELECT o.customer_entity_id, max(o.order_day) AS last_day FROM canonical.order_facts o
               WHERE o.customer_entity_id IS NOT NULL AND o.order_day IS NOT NULL AND o.amount IS NOT NULL AND ${counted} GROUP BY 1) l
         JOIN canonical.customer_facts c ON c.entity_id = l.customer_entity_id GROUP BY 1, 2, 3, 4`],
      ['parent links', 'SELECT entity_type, child, parent, child_value FROM canonical.parent_links',
        `SELECT r.from_entity_type, ce.id, pe.id, coalesce(cf.lifetime_value, pf.price)
         FROM canonical.relationships r
         JOIN canonical.entities ce ON (ce.entity_type, ce.source_system, ce.source_id) = (r.from_entity_type, r.from_source_system, r.from_source_id)
         LEFT JOIN canonical.entities pe ON (pe.entity_type, pe.source_system, pe.source_id) = (r.to_entity_type, r.to_source_system, r.to_source_id)
         LEFT JOIN canonical.customer_facts cf ON cf.entity_id = ce.id LEFT JOIN canonical.product_facts pf ON pf.entity_id = ce.id
         WHERE r.rel_type = 'parent' AND r.from_entity_type IN ('customer', 'product') AND r.to_entity_type = r.from_entity_type`],
    ];
    for (const [name, kept, derived] of pairs) {
      const { rows: [diff] } = await db.pool.query(`SELECT (SELECT count(*) FROM ((${kept}) EXCEPT ALL (${derived})) a)::int AS extra,
        (SELECT count(*) FROM ((${derived}) EXCEPT ALL (${kept})) b)::int AS missing, (SELECT count(*) FROM (${kept}) k)::int AS rows`);
      expect({ name, ...diff, rows: diff.rows > 0 }).toEqual({ name, extra: 0, missing: 0, rows: true });
    }
  });

  test('the matrix covers every compared built-in operation', () => {
    const covered = new Set(CASES.map((c) => c.operation));
    expect([...covered].sort()).toEqual([...COMPARED_OPERATIONS].sort());
    expect([...REFERENCE_OPERATIONS.keys()].sort()).toEqual([...COMPARED_OPERATIONS].sort());
  });

  test.each(CASES.map((c) => [c.label, c] as const))('%s', async (label, c) => {
    const result = await compareOperation(analytics, c.operation, c.parameters);
    results.push(result);
    expectEquivalent(label, result);
  });

  test('self-check: a query that differs is detected (tabular and composite)', async () => {
    const revenue = mutated('revenue_analysis', (sql) => sql.replace('sum(o.amount) AS revenue', 'sum(o.amount) + 0.01 AS revenue'));
    const tabular = await compareOperation(analytics, 'revenue_analysis', { period: 'month', segment_by: 'segment' }, revenue.op);
    expect(revenue.edits.count).toBeGreaterThan(0);
    expect(tabular.diffs.join('\n')).toMatch(/revenue/);
    const cube = mutated('multi_dimensional_analytics', (sql) => sql.replace('count(DISTINCT customer_key)', 'count(customer_key)'));
    const composite = await compareOperation(analytics, 'multi_dimensional_analytics', { as_of: AS_OF, dimensions: ['segment', 'country'] }, cube.op);
    expect(cube.edits.count).toBeGreaterThan(0);
    expect(composite.diffs.join('\n')).toMatch(/not in the reference's candidate set.*"customers"/);
    // and the unchanged reference compared with itself finds nothing
    const same = mutated('revenue_analysis', (sql) => sql);
    expect((await compareOperation(analytics, 'revenue_analysis', { period: 'month', segment_by: 'segment' }, same.op)).diffs).toEqual([]);
  });
});

describe('analytics equivalence after upgrading a store from migration 0003', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  const poolFor = (group: GroupRole) => {
    const user = LOGIN_USERS.find((u) => u.group === group)!;
    const pool = new Pool({ connectionString: db.urlFor(user.username, user.password), max: 4 });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const boundary = LIBRARY_MIGRATIONS.findIndex((m) => m.id === BEFORE_ISSUE_18);
  const before = LIBRARY_MIGRATIONS.slice(0, boundary + 1);
  const after = LIBRARY_MIGRATIONS.slice(boundary + 1);
  let analytics: Pool;

  beforeAll(async () => {
    expect(boundary).toBeGreaterThanOrEqual(0);
    db = await createTestDatabase('equiv_upgrade');
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      await migrate(admin, { sets: [{ namespace: 'library', migrations: before }], loginUsers: LOGIN_USERS });
      const writer = poolFor(GroupRole.WRITER);
      // Data written at the old schema: products, orders before their customers, customers, the rest.
      await writeBatches(writer, BATCHES.slice(0, 4));
      const upgrade = await migrate(admin, { sets: [{ namespace: 'library', migrations: LIBRARY_MIGRATIONS }], loginUsers: LOGIN_USERS });
      expect(upgrade.applied).toEqual(after.map((m) => `library/${m.id}`));
      // Then updates and stale re-sends through the upgraded write path.
      await writeBatches(writer, BATCHES.slice(4));
      await createPinnedViews(admin);
      await admin.query('VACUUM ANALYZE');
    } finally {
      await admin.end();
    }
    analytics = poolFor(GroupRole.ANALYTICS);
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await db?.drop();
  });

  test('the upgrade applies the migrations after 0003 (none before issue 18 lands)', () => {
    expect(before.map((m) => m.id)).toContain(BEFORE_ISSUE_18);
    expect(before.length + after.length).toBe(LIBRARY_MIGRATIONS.length);
  });

  test.each(PINNED_VIEWS)('the typed view canonical.%s returns the rows of its 0001 definition', async (view) => {
    const [live, pinned] = await Promise.all([viewRows(analytics, `canonical.${view}`), viewRows(analytics, pinnedView(view))]);
    expect(live).toEqual(pinned);
  });

  test.each(CASES.map((c) => [c.label, c] as const))('%s', async (label, c) => {
    expectEquivalent(label, await compareOperation(analytics, c.operation, c.parameters));
  });
});

/** A view's rows as JSON text (every column, exact values), sorted. */
async function viewRows(pool: Pool, view: string): Promise<string[]> {
  const { rows } = await pool.query(`SELECT to_jsonb(v)::text AS row FROM ${view} v`);
  return rows.map((r) => r.row as string).sort();
}
