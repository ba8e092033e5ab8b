import { Pool, PoolClient } from 'pg';
import { CanonicalTestDatabase, createCanonicalDatabase } from './support/canonical-db';
import { GroupRole } from '../lambda/canonical-store/runner';
import {
  bumpDataGeneration, CanonicalEntity, NewKeyConflictError, stageEntity, upsertEntities, UpsertOptions, upsertStaged,
} from '../lambda/shared/canonical-upsert';
import { refreshTypedStorage } from '../lambda/shared/typed-refresh';

const customer = (id: string, attributes: Record<string, unknown>, extra: Partial<CanonicalEntity> = {}): CanonicalEntity => ({
  entityType: 'customer', sourceSystem: 'crm', sourceId: id, canonicalKey: `${id}@example.com`, attributes, ...extra,
});

describe('canonical upsert path on real PostgreSQL', () => {
  let db: CanonicalTestDatabase;
  let writer: Pool;

  async function inTransaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const client = await writer.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK');
      throw e;
    } finally {
      client.release();
    }
  }
  const upsert = (entities: CanonicalEntity[], options?: UpsertOptions) => inTransaction((c) => upsertEntities(c, entities, options));
  const row = async (sourceId: string) =>
    (await db.pool.query("SELECT * FROM canonical.entities WHERE entity_type = 'customer' AND source_system = 'crm' AND source_id = $1", [sourceId])).rows[0];
  const history = async (entityId: number) =>
    (await db.pool.query('SELECT * FROM canonical.entity_versions WHERE entity_id = $1 ORDER BY version', [entityId])).rows;

  beforeAll(async () => {
    db = await createCanonicalDatabase();
    writer = db.poolFor(GroupRole.WRITER);
  });
  afterAll(async () => db.drop());

  test('a new entity is inserted as version 1', async () => {
    const result = await upsert([customer('c1', { name: 'Acme', lifetime_value: 100 })], {
      runId: '11111111-1111-4111-8111-111111111111', source: { bucket: 'raw', key: 'crm-data/a.json', versionId: 'v1' },
    });
    expect(result).toEqual({ inserted: 1, updated: 0, unchanged: 0, stale: 0, duplicates: 0, rejected: [] });
    const r = await row('c1');
    expect(r).toMatchObject({
      version: 1,
      canonical_key: 'c1@example.com',
      attributes: { name: 'Acme', lifetime_value: 100 },
      source_bucket: 'raw',
      source_key: 'crm-data/a.json',
      source_version_id: 'v1',
      last_run_id: '11111111-1111-4111-8111-111111111111',
    });
    expect(r.created_at).toEqual(r.updated_at);
    expect(await history(r.id)).toHaveLength(0);
  });

  test('changed content becomes version 2 with one history row and a new updated_at', async () => {
    const before = await row('c1');
    const result = await upsert([customer('c1', { name: 'Acme Corp', lifetime_value: 150 })]);
    expect(result).toMatchObject({ inserted: 0, updated: 1, unchanged: 0 });
    const after = await row('c1');
    expect(after.version).toBe(2);
    expect(after.attributes).toEqual({ name: 'Acme Corp', lifetime_value: 150 });
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    expect(after.created_at).toEqual(before.created_at);
    const versions = await history(after.id);
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ version: 1, attributes: { name: 'Acme', lifetime_value: 100 }, content_hash: before.content_hash });
  });

  test('unchanged content writes nothing: same version, same updated_at, no history row', async () => {
    const before = await row('c1');
    const xminBefore = (await db.pool.query('SELECT xmin::text FROM canonical.entities WHERE id = $1', [before.id])).rows[0].xmin;
    // Key order differs: the content hash is over canonical JSON.
    const result = await upsert([customer('c1', { lifetime_value: 150, name: 'Acme Corp' })]);
    expect(result).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    const after = await row('c1');
    expect(after.version).toBe(before.version);
    expect(after.updated_at).toEqual(before.updated_at);
    expect((await db.pool.query('SELECT xmin::text FROM canonical.entities WHERE id = $1', [before.id])).rows[0].xmin).toBe(xminBefore);
    expect(await history(after.id)).toHaveLength(1);
  });

  test('an update older than the stored source_updated_at is not applied', async () => {
    await upsert([customer('c2', { name: 'Beta' }, { sourceUpdatedAt: '2024-05-01T00:00:00Z' })]);
    const stale = await upsert([customer('c2', { name: 'Beta (old)' }, { sourceUpdatedAt: '2024-04-01T00:00:00Z' })]);
    expect(stale).toMatchObject({ inserted: 0, updated: 0, unchanged: 0, stale: 1 });
    expect((await row('c2')).attributes).toEqual({ name: 'Beta' });
    const newer = await upsert([customer('c2', { name: 'Beta (new)' }, { sourceUpdatedAt: '2024-06-01T00:00:00Z' })]);
    expect(newer).toMatchObject({ updated: 1 });
    const r = await row('c2');
    expect(r).toMatchObject({ version: 2, attributes: { name: 'Beta (new)' } });
    expect(r.source_updated_at.toISOString()).toBe('2024-06-01T00:00:00.000Z');
  });

  test('10,000 rows in one call, then a re-run with 10% changed', async () => {
    const make = (i: number, changed = false) => ({
      entityType: 'customer',
      sourceSystem: 'bulk',
      sourceId: `b${i}`,
      canonicalKey: `b${i}@example.com`,
      attributes: { name: `Customer ${i}`, segment: i % 3 === 0 ? 'enterprise' : 'smb', lifetime_value: changed ? i + 1 : i },
    });
    const rows = Array.from({ length: 10_000 }, (_, i) => make(i));
    expect(await upsert(rows)).toEqual({ inserted: 10_000, updated: 0, unchanged: 0, stale: 0, duplicates: 0, rejected: [] });
    const second = await upsert(Array.from({ length: 10_000 }, (_, i) => make(i, i % 10 === 0)));
    expect(second).toMatchObject({ inserted: 0, updated: 1_000, unchanged: 9_000 });
    const { rows: [counts] } = await db.pool.query(
      "SELECT count(*)::int AS n, count(*) FILTER (WHERE version = 2)::int AS v2 FROM canonical.entities WHERE source_system = 'bulk'");
    expect(counts).toEqual({ n: 10_000, v2: 1_000 });
  });

  test('duplicates within one call: the last occurrence wins and is counted once', async () => {
    const result = await upsert([customer('d1', { name: 'first' }), customer('d1', { name: 'second' }), customer('d2', { name: 'x' })]);
    expect(result).toMatchObject({ inserted: 2, duplicates: 1 });
    expect((await row('d1')).attributes).toEqual({ name: 'second' });
  });

  test('entities PostgreSQL would refuse are set aside with a reason and do not fail the batch', async () => {
    const result = await upsert([
      customer('n1', { name: 'nul\u0000byte' }),
      customer('n2', { name: 'lone \ud800 surrogate' }),
      customer('n3', { name: 'literal \\u0000 text is fine' }),
      customer('', { name: 'no id' }),
      customer('n4', { name: 'bad time' }, { sourceUpdatedAt: 'yesterday-ish' }),
    ]);
    expect(result.inserted).toBe(1);
    expect(result.rejected).toEqual([
      { index: 0, reason: 'attributes contain a NUL character or an invalid Unicode surrogate' },
      { index: 1, reason: 'attributes contain a NUL character or an invalid Unicode surrogate' },
      { index: 3, reason: 'sourceId is missing or empty' },
      { index: 4, reason: 'sourceUpdatedAt "yesterday-ish" is not a valid timestamp' },
    ]);
    expect((await row('n3')).attributes.name).toBe('literal \\u0000 text is fine');
  });

  test('relationships are stored by source identifiers (child before parent) and follow the current version', async () => {
    const order = (customerId: string): CanonicalEntity => ({
      entityType: 'order',
      sourceSystem: 'erp',
      sourceId: 'o1',
      attributes: { customer_id: customerId, amount: 10 },
      relationships: [{ type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: customerId }],
    });
    await upsert([order('not-yet-loaded')]);
    const rels = async () => (await db.pool.query(
      "SELECT rel_type, to_source_id FROM canonical.relationships WHERE from_entity_type = 'order' AND from_source_id = 'o1'")).rows;
    expect(await rels()).toEqual([{ rel_type: 'placed_by', to_source_id: 'not-yet-loaded' }]);
    await upsert([order('c1')]);
    expect(await rels()).toEqual([{ rel_type: 'placed_by', to_source_id: 'c1' }]);
  });

  test('outside a transaction the upsert refuses to run, with a clear error, and loads nothing', async () => {
    const client = await writer.connect();
    try {
      await expect(upsertEntities(client, [customer('no-tx', { name: 'Autocommit' })]))
        .rejects.toThrow(/^upsertEntities\/upsertStaged must run inside a transaction \(BEGIN first, COMMIT after\)/);
      await expect(upsertStaged(client, [stageEntity(customer('no-tx', { name: 'Autocommit' }))])).rejects.toThrow(/must run inside a transaction/);
    } finally {
      client.release();
    }
    expect(await row('no-tx')).toBeUndefined();
    // In a transaction the same call loads the entity.
    await upsert([customer('no-tx', { name: 'In a transaction' })]);
    expect((await row('no-tx')).attributes.name).toBe('In a transaction');
  });

  test('the data generation moves only when asked, inside the writer transaction', async () => {
    const gen = async () => Number((await db.pool.query('SELECT generation FROM canonical.data_generation')).rows[0].generation);
    const start = await gen();
    await inTransaction(async (c) => {
      const r = await upsertEntities(c, [customer('g1', { name: 'Gen' })]);
      if (r.inserted + r.updated > 0) await bumpDataGeneration(c);
    });
    expect(await gen()).toBe(start + 1);
    // A rolled-back run leaves it (and the data) unchanged.
    await expect(inTransaction(async (c) => {
      await upsertEntities(c, [customer('g2', { name: 'Never' })]);
      await bumpDataGeneration(c);
      throw new Error('crash mid-run');
    })).rejects.toThrow('crash mid-run');
    expect(await gen()).toBe(start + 1);
    expect(await row('g2')).toBeUndefined();
  });

  describe('new keys straight into the store (insertNewDirectly)', () => {
    const runId = '22222222-2222-4222-8222-222222222222';
    const options: UpsertOptions = { runId, source: { bucket: 'raw', key: 'crm-data/direct.ndjson', versionId: 'v7' } };
    const entity = (system: string, i: number, changed = false): CanonicalEntity => ({
      entityType: 'customer',
      sourceSystem: system,
      sourceId: `k${i}`,
      canonicalKey: i % 4 === 0 ? null : `k${i}@example.com`,
      attributes: { name: `Customer ${i}`, tags: ['a', i], nested: { b: 1, a: i % 2 === 0 }, lifetime_value: changed ? i + 1 : i },
      sourceUpdatedAt: i % 3 === 0 ? null : '2024-01-02T03:04:05.678Z',
      relationships: i % 5 === 0 ? [] : [
        { type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: `k${i - 1}` },
        { type: 'owner', targetEntityType: 'user', targetSourceSystem: 'iam', targetSourceId: `u${i % 3}` },
      ],
    });
    const batch = (system: string, changed: (i: number) => boolean = () => false) => [
      ...Array.from({ length: 40 }, (_, i) => entity(system, i, changed(i))),
      { ...entity(system, 99), attributes: { name: 'nul\u0000byte' } },
    ];
    const load = (entities: CanonicalEntity[], direct: boolean) =>
      inTransaction((c) => upsertStaged(c, entities.map((e) => stageEntity(e, options)), { insertNewDirectly: direct }));
    const stored = async (system: string) => (await db.pool.query(
      `SELECT entity_type, source_id, canonical_key, attributes, content_hash, version, source_updated_at, source_bucket, source_key,
         source_version_id, last_run_id, created_at = updated_at AS untouched,
         (SELECT count(*)::int FROM canonical.entity_versions v WHERE v.entity_id = e.id) AS history,
         (SELECT coalesce(json_agg(json_build_array(r.rel_type, r.to_entity_type, r.to_source_id, r.run_id) ORDER BY r.rel_type, r.to_source_id), '[]')
          FROM canonical.relationships r WHERE r.from_entity_type = e.entity_type AND r.from_source_system = e.source_system
            AND r.from_source_id = e.source_id) AS rels
       FROM canonical.entities e WHERE source_system = $1 ORDER BY source_id`, [system])).rows;

    test('a first load gives the same rows, hashes, relationships, counts and later versions as the merge', async () => {
      const viaMerge = await load(batch('merged'), false);
      const direct = await load(batch('direct'), true);
      expect(direct).toEqual(viaMerge);
      expect(direct).toMatchObject({ inserted: 40, updated: 0, unchanged: 0, rejected: [{ index: 40 }] });
      const merged = await stored('merged');
      expect(merged).toHaveLength(40);
      expect(await stored('direct')).toEqual(merged);

      // Then a re-run with 10% changed, through the merge either way: the same versions and history.
      const changed = (i: number) => i % 10 === 1;
      expect(await load(batch('direct', changed), true)).toEqual(await load(batch('merged', changed), false));
      const after = await stored('direct');
      expect(after.filter((r) => r.version === 2)).toHaveLength(4);
      expect(after.map((r) => [r.version, r.history])).toEqual((await stored('merged')).map((r) => [r.version, r.history]));
    });

    test('a batch with a stored or a repeated key goes through the merge', async () => {
      const stored1 = entity('mixed', 1);
      await load([stored1], true);
      const xmin = async () => (await db.pool.query("SELECT xmin::text FROM canonical.entities WHERE source_system = 'mixed' AND source_id = 'k1'")).rows[0].xmin;
      const before = await xmin();
      expect(await load([stored1, entity('mixed', 2)], true)).toMatchObject({ inserted: 1, unchanged: 1 });
      expect(await xmin()).toBe(before); // unchanged rows are not touched
      expect(await load([entity('mixed', 3), { ...entity('mixed', 3), attributes: { name: 'last' } }], true))
        .toMatchObject({ inserted: 1, duplicates: 1 });
      expect((await db.pool.query("SELECT attributes FROM canonical.entities WHERE source_system = 'mixed' AND source_id = 'k3'")).rows[0].attributes)
        .toEqual({ name: 'last' });
    });

    test('a key committed meanwhile by a concurrent writer aborts the direct COPY with NewKeyConflictError', async () => {
      const other = await writer.connect();
      const mine = await writer.connect();
      try {
        await other.query('BEGIN');
        await upsertEntities(other, [entity('race', 1)]);
        await mine.query('BEGIN');
        // Not visible to the probe (uncommitted): the COPY waits on the key, then fails once it commits.
        const racing = upsertStaged(mine, [entity('race', 0), entity('race', 1, true)].map((e) => stageEntity(e, options)), { insertNewDirectly: true });
        racing.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await other.query('COMMIT');
        await expect(racing).rejects.toBeInstanceOf(NewKeyConflictError);
        await mine.query('ROLLBACK');
        // Redone through the merge, it waits for and updates the concurrent key, as before.
        await mine.query('BEGIN');
        expect(await upsertStaged(mine, [entity('race', 0), entity('race', 1, true)].map((e) => stageEntity(e, options))))
          .toMatchObject({ inserted: 1, updated: 1 });
        await mine.query('COMMIT');
      } finally {
        other.release();
        mine.release();
      }
    });
  });

  test('two writers at once: the typed storage queue takes both, neither waits for the other', async () => {
    const [a, b] = [await db.pool.connect(), await db.pool.connect()];
    try {
      await a.query('BEGIN');
      await upsertEntities(a, [customer('w1', { name: 'First writer' })]);
      // Would fail on its lock timeout if the queue (or anything the triggers write) serialized writers.
      await b.query('BEGIN');
      await b.query("SET LOCAL lock_timeout = '2s'");
      await upsertEntities(b, [customer('w2', { name: 'Second writer' })]);
      await b.query('COMMIT');
      await a.query('COMMIT');
    } finally {
      a.release();
      b.release();
    }
    const { rows } = await db.pool.query(`SELECT e.source_id FROM canonical.typed_refresh_queue q JOIN canonical.entities e ON e.id = q.entity_id
      WHERE e.source_id IN ('w1', 'w2') ORDER BY 1`);
    expect(rows.map((r) => r.source_id)).toEqual(['w1', 'w2']);
  });

  test('typed views cast the canonical attributes and tolerate malformed values', async () => {
    await upsert([customer('v1', { name: 'Typed', lifetime_value: '1234.50', signup_date: '2023-02-01', segment: 'vip' }),
      customer('v2', { name: 'Broken', lifetime_value: 'n/a', signup_date: 'soon' })]);
    const client = await db.pool.connect();
    try {
      await refreshTypedStorage(client);
    } finally {
      client.release();
    }
    const { rows } = await db.pool.query("SELECT source_id, lifetime_value, signup_date::text FROM canonical.customers WHERE source_id IN ('v1', 'v2') ORDER BY source_id");
    expect(rows).toEqual([
      { source_id: 'v1', lifetime_value: '1234.50', signup_date: '2023-02-01' },
      { source_id: 'v2', lifetime_value: null, signup_date: null },
    ]);
  });
});

describe('access levels', () => {
  let db: CanonicalTestDatabase;
  beforeAll(async () => {
    db = await createCanonicalDatabase();
  });
  afterAll(async () => db.drop());

  const denied = /permission denied|read-only transaction/;

  test('the writer writes the store but cannot change its schema', async () => {
    const writer = db.poolFor(GroupRole.WRITER);
    await writer.query("INSERT INTO canonical.ingestion_runs (run_id, source_system, entity_type, bucket, object_key, status) VALUES (gen_random_uuid(), 'crm', 'customer', 'b', 'k', 'running')");
    await expect(writer.query('CREATE TABLE canonical.nope (id int)')).rejects.toThrow(denied);
    await expect(writer.query('DROP TABLE canonical.entities')).rejects.toThrow(/must be owner/);
    await expect(writer.query('DELETE FROM canonical.entities')).rejects.toThrow(denied);
    await expect(writer.query('SELECT * FROM canonical.schema_migrations')).rejects.toThrow(denied);
  });

  test('the analytics reader reads everything and writes nothing', async () => {
    const analytics = db.poolFor(GroupRole.ANALYTICS);
    await analytics.query('SELECT count(*) FROM canonical.entities');
    await analytics.query('SELECT count(*) FROM canonical.customers');
    await analytics.query('SELECT count(*) FROM canonical.ingestion_runs');
    await expect(analytics.query('UPDATE canonical.data_generation SET generation = 0')).rejects.toThrow(denied);
    await expect(analytics.query('BEGIN READ WRITE; INSERT INTO canonical.relationships VALUES (1,2,3,4,5,6,7)')).rejects.toThrow(denied);
    expect((await analytics.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('25s');
    expect((await analytics.query('SHOW jit')).rows[0].jit).toBe('off');
  });

  test('the restricted reader reads the typed views only, read-only, with a statement timeout', async () => {
    const reader = db.poolFor(GroupRole.SQL_READER);
    for (const view of ['customers', 'orders', 'products', 'health_readings']) {
      await reader.query(`SELECT * FROM ${view} LIMIT 1`); // search_path is canonical
    }
    for (const table of ['entities', 'entity_versions', 'relationships', 'ingestion_runs', 'schema_migrations', 'data_generation']) {
      await expect(reader.query(`SELECT * FROM canonical.${table} LIMIT 1`)).rejects.toThrow(/permission denied/);
    }
    await expect(reader.query("INSERT INTO canonical.entities (entity_type, source_system, source_id, content_hash) VALUES ('a','b','c','d')"))
      .rejects.toThrow(denied);
    await expect(reader.query('SET default_transaction_read_only = off; CREATE TABLE canonical.x (id int)')).rejects.toThrow(denied);
    await expect(reader.query('CREATE TEMP TABLE t AS SELECT 1')).rejects.toThrow(/read-only transaction/);
    expect((await reader.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('20s');
  });
});
